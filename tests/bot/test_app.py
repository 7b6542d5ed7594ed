"""Start-up: a configuration the bot cannot run with is one clear line and exit code 2."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.app import run_bot
from tests.fakes.telegram_server import FakeTelegram
from tests.support.inprocess import StartBot, settings_for

BAD_CONFIGURATIONS = [
    ({"TELEGRAM_BOT_TOKEN": None}, "TELEGRAM_BOT_TOKEN is not set"),
    ({"TELEGRAM_BOT_TOKEN": "123:wrong"}, "Telegram refused TELEGRAM_BOT_TOKEN"),
    ({"channel": "@nowhere"}, "channel @nowhere cannot be reached"),
    ({"channel": None}, "IMMU_CHANNEL is not set"),
    ({"TELEGRAM_API_URL": "http://127.0.0.1:9"}, "cannot reach the Bot API"),
    ({"_not_admin": True}, "must be an administrator"),
    ({"moderation": "review", "review_chat": "@no_such_room", "admin_ids": [9]},
     "the operators' chat @no_such_room cannot be reached"),
    ({"webhook_url": "https://bot.example/hook"}, "IMMU_WEBHOOK_SECRET is required"),
    ({"webhook_url": "https://bot.example/hook", "webhook_secret": "has spaces" * 4},
     "IMMU_WEBHOOK_SECRET must be 32-256 characters"),
    ({"webhook_url": "http://bot.example/hook", "webhook_secret": "s" * 32},
     "IMMU_WEBHOOK_URL must be an https:// URL"),
]  # fmt: skip


def _run(settings: Any, capsys: pytest.CaptureFixture[str], caplog: Any) -> tuple[int, list[str]]:
    with caplog.at_level(logging.DEBUG):
        code = run_bot(settings)
    lines = capsys.readouterr().err.splitlines()
    tracebacks = [r for r in caplog.records if r.exc_info and not r.name.startswith("aiohttp")]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    return code, lines


@pytest.mark.parametrize(("change", "message"), BAD_CONFIGURATIONS)
def test_a_bad_configuration_is_one_clear_line(
    tg: FakeTelegram,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    change: dict[str, Any],
    message: str,
) -> None:
    tg.bot_is_channel_admin = "_not_admin" not in change
    settings = settings_for(
        tg, tmp_path / "data", **{k: v for k, v in change.items() if k != "_not_admin"}
    )
    code, lines = _run(settings, capsys, caplog)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("immu: ") and message in lines[0], lines
    assert tg.token.split(":")[1] not in lines[0]
    assert tg.calls_to("getUpdates") == []  # it never started serving


def test_an_unusable_data_dir_is_one_line(
    tg: FakeTelegram,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    code, lines = _run(settings_for(tg, not_a_dir), capsys, caplog)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("immu: data directory "), lines
    assert not_a_dir.read_text() == "x"  # left as it was


def test_a_malformed_answer_at_start_up_is_one_line(
    tg: FakeTelegram,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tg.me = {"id": 1, "first_name": "IMMU", "username": "immu_test_bot"}  # no is_bot
    code = run_bot(settings_for(tg, tmp_path / "data"))
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("immu: start-up failed"), lines
    assert tg.calls_to("getUpdates") == []


async def test_the_start_up_line_names_the_store_and_whether_it_is_new(
    tg: FakeTelegram,
    start_bot: StartBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Started from another folder, the default relative IMMU_DATA_DIR is a new store
    there: the log says where, and that it is new, or how many jobs it holds."""
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="bot")
    store = (tmp_path / "data" / "immu.db").resolve()
    bot = await start_bot(data_dir=Path("data"))
    assert f"store path={store} new=true" in caplog.text
    await bot.deliver(tg.user(42, "Ann"))
    await bot.stop()
    caplog.clear()
    await start_bot(data_dir=Path("data"))
    assert f"store path={store} new=false jobs=1" in caplog.text
