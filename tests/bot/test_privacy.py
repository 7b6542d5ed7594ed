"""A person's data: /forget removes it everywhere; an online backup works meanwhile."""

from __future__ import annotations

import sqlite3
import tarfile
from pathlib import Path

from bot.telegram.texts import CATALOGUE
from pipeline import Stage
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.harness import keyboard_message, popups, results, run_immu, texts_to
from tests.support.inprocess import CHANNEL, PHOTO, StartBot, job_of

EN = CATALOGUE["en"]


async def test_forget_removes_posts_files_and_rows_and_backup_works_meanwhile(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")
    ann_result = await bot.deliver(ann)
    ann_job, bob_job = job_of(ann_result), job_of(await bot.deliver(bob))
    tg.tap(ann, ann_result, f"pick:{ann_job}:0")
    await bot.until(lambda: popups(tg) == [EN["posted"]], "posted")

    # an online backup by the operator's command while the bot runs: consistent, complete
    backup = bot.data_dir.parent / "backup.tar"
    code, output = await run_immu("backup", str(backup), data_dir=bot.data_dir)
    assert code == 0, output
    with tarfile.open(backup) as tar, tar.extractfile("immu.db") as stored:  # type: ignore[union-attr]
        (bot.data_dir.parent / "backup.db").write_bytes(stored.read())
    with sqlite3.connect(bot.data_dir.parent / "backup.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 2
        assert db.execute("SELECT COUNT(*) FROM posts WHERE status='posted'").fetchone()[0] == 1

    # Bob cannot forget Ann, even with forged data; Ann can, after confirming
    tg.send_text(ann, "/forget")
    confirm = await bot.until(lambda: keyboard_message(tg, 42, "forget"), "confirmation")
    assert confirm["text"] == EN["forget_confirm"]
    tg.tap(bob, confirm, "forget:42")
    await bot.until(lambda: popups(tg)[1:] == [EN["not_yours"]], "refused")
    assert bot.db("SELECT COUNT(*) FROM users WHERE id = 42") == [(1,)]
    ann_files, bob_files = (bot.data_dir / "jobs" / str(job) for job in (ann_job, bob_job))
    assert ann_files.is_dir() and bob_files.is_dir()

    tg.tap(ann, confirm, "forget:42")
    await bot.until(lambda: popups(tg)[2:] == [EN["forgotten"]], "forgotten")
    assert tg.calls_to("deleteMessage", chat_id=CHANNEL)  # her post left the channel
    assert [m for m in tg.chat_messages(CHANNEL_ID) if "video" in m] == []
    assert bot.db("SELECT COUNT(*) FROM jobs WHERE user_id = 42") == [(0,)]
    assert bot.db("SELECT COUNT(*) FROM users WHERE id = 42") == [(0,)]
    assert bot.db("SELECT COUNT(*) FROM posts") == [(0,)]
    assert bot.db("SELECT COUNT(*) FROM jobs WHERE user_id = 43") == [(1,)]
    assert not ann_files.exists() and len(list(bob_files.iterdir())) == 7  # 3 MP3s, 3 PNGs, cover
    (bob_photo,) = bot.db("SELECT photo_path FROM jobs WHERE user_id = 43")[0]
    assert list((bot.data_dir / "photos").iterdir()) == [bot.data_dir / bob_photo]  # Bob's only


def _files(data_dir: Path) -> list[Path]:
    kept = ("immu.db", "pseudonym.key")  # the store, and the key of the install's pseudonyms
    return [p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith(kept)]


async def test_forget_while_composing_leaves_no_row_no_file_and_no_message(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    gate = composer.hold(Stage.MUSIC)
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    tg.send_photo(ann, PHOTO)
    await gate.reached()
    message = tg.send_text(ann, "/forget")
    tg.tap(ann, message, "forget:42")
    await bot.until(lambda: EN["forgotten"] in popups(tg), "forgotten")
    gate.release()  # the composition comes back for a job that no longer exists
    await bot.settled()
    assert bot.db("SELECT COUNT(*) FROM jobs WHERE user_id = 42") == [(0,)]
    assert bot.db("SELECT COUNT(*) FROM users WHERE id = 42") == [(0,)]
    assert not (bot.data_dir / "jobs" / "1").exists()
    marker_photo = bot.db("SELECT photo_path FROM jobs")[0][0]
    assert [p for p in _files(bot.data_dir) if p.parent.name != "2"] == [
        bot.data_dir / marker_photo
    ]
    assert EN["storage_failed"] not in texts_to(tg, 42) and results(tg, 42) == []


async def test_forget_takes_down_others_remixes_that_show_the_photo(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann, rex = tg.user(42, "Ann"), tg.user(60, "Rex")
    result = await bot.deliver(ann)
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    await bot.until(lambda: EN["posted"] in popups(tg), "posted")
    tg.send_text(rex, "/start remix-1")
    remix = await bot.result_for(60)
    remix_job = job_of(remix)
    tg.tap(rex, remix, f"pick:{remix_job}:1")  # Rex posts his remix: Ann's photo in it
    await bot.until(lambda: popups(tg).count(EN["posted"]) == 2, "the remix posted")
    remix_post = max(m["message_id"] for m in tg.chat_messages(CHANNEL_ID))
    sue = tg.user(61, "Sue")  # a remix of Rex's remix: a copy of the same photo again
    tg.send_text(sue, "/start remix-2")
    await bot.result_for(61)
    (rex_photo,) = bot.db("SELECT photo_path FROM jobs WHERE user_id = 60")[0]
    (sue_photo,) = bot.db("SELECT photo_path FROM jobs WHERE user_id = 61")[0]
    (ann_photo,) = bot.db("SELECT photo_path FROM jobs WHERE user_id = 42")[0]
    assert rex_photo != ann_photo  # a copy of its own: Ann's retention never breaks it

    tg.send_text(ann, "/forget")
    confirm = await bot.until(lambda: keyboard_message(tg, 42, "forget"), "confirmation")
    assert "48 hours" in confirm["text"] and "forwarded" in confirm["text"]  # said before
    assert "inline" in confirm["text"] and "인라인" in CATALOGUE["ko"]["forget_confirm"]
    tg.tap(ann, result, "forget:42")
    await bot.until(lambda: EN["remix_taken_down"] in texts_to(tg, 60), "Rex told")
    await bot.until(lambda: EN["remix_taken_down"] in texts_to(tg, 61), "Sue told")
    assert tg.calls_to("deleteMessage", chat_id=CHANNEL, message_id=remix_post)
    for photo in (ann_photo, rex_photo, sue_photo):
        assert not (bot.data_dir / photo).exists()
    assert bot.db("SELECT COUNT(*) FROM jobs") == [(0,)]  # the remixes, rows and all
    assert not (bot.data_dir / "jobs" / str(remix_job)).exists()  # MP3s with the cover
