"""Pseudonyms in the logs and the reports table: a keyed hash that only this install makes."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from pathlib import Path

import pytest

from bot.telegram.texts import CATALOGUE
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.inprocess import StartBot, job_of, nth_popup

EN = CATALOGUE["en"]
KEY = "pseudonym.key"


def _keyed(data_dir: Path, user_id: int) -> str:
    """What the install's key makes of an id: only someone holding the key can compute it."""
    key = (data_dir / KEY).read_bytes()
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()


def _logged(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    """The ``user=`` field of the log lines that say ``what``."""
    lines = [r.getMessage() for r in caplog.records if what in r.getMessage()]
    return [m.group(1) for line in lines if (m := re.search(r"user=(\S+)", line))]


async def test_logs_and_reports_name_people_by_a_keyed_hash_that_survives_a_restart(
    tg: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    bot = await start_bot()
    ann, reader = tg.user(42, "Ann"), tg.user(60, "Rex")
    result = await bot.deliver(ann)
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await nth_popup(bot, 1) == EN["posted"]
    (post,) = await bot.until(lambda: tg.chat_messages(CHANNEL_ID), "posted")
    tg.tap(reader, post, "report:1")
    assert await nth_popup(bot, 2) == EN["report_kept"]  # no operators: kept, not acted on

    key_file = bot.data_dir / KEY
    assert key_file.stat().st_mode & 0o777 == 0o600  # only the bot's user may read it
    (reporter,) = bot.db("SELECT reporter FROM reports")[0]
    assert len(reporter) >= 16 and _keyed(bot.data_dir, 60).startswith(reporter)
    # hashing candidate ids without the key finds nobody
    assert not hashlib.sha256(b"60").hexdigest().startswith(reporter)
    (logged,) = _logged(caplog, "job accepted")
    assert len(logged) >= 16 and _keyed(bot.data_dir, 42).startswith(logged)
    assert not hashlib.sha256(b"42").hexdigest().startswith(logged)
    assert hashlib.sha256(b"42").hexdigest()[:10] not in caplog.text
    key = key_file.read_bytes()
    assert key.hex() not in caplog.text and str(key) not in caplog.text

    # the same install after a restart: the same key, the same pseudonyms
    await bot.stop()
    bot = await start_bot()
    tg.tap(reader, post, "report:1")
    assert await nth_popup(bot, 3) == EN["already_reported"]  # the reader counts once
    assert key_file.read_bytes() == key and bot.db("SELECT COUNT(*) FROM reports") == [(1,)]
    await bot.deliver(ann)
    assert _logged(caplog, "job accepted") == [logged, logged]


async def test_two_installs_give_one_person_two_unrelated_pseudonyms(
    tg: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    ann = tg.user(42, "Ann")
    first = await start_bot(data_dir=tmp_path / "one")
    await first.deliver(ann)
    await first.stop()
    second = await start_bot(data_dir=tmp_path / "two")
    await second.deliver(ann)

    keys = [(bot.data_dir / KEY).read_bytes() for bot in (first, second)]
    assert keys[0] != keys[1]
    one, two = _logged(caplog, "job accepted")
    assert one != two
    assert _keyed(first.data_dir, 42).startswith(one)
    assert _keyed(second.data_dir, 42).startswith(two)
