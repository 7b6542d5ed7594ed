"""A backup taken while the bot runs restores on another host, under another data folder,
and the bot there serves the old posts: profiles, deletes and remixes of them."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.telegram.texts import CATALOGUE
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import CHANNEL_ID, CHANNEL_USERNAME, FakeTelegram
from tests.support.harness import answers, keyboard_message, popups, run_immu
from tests.support.inprocess import CHANNEL, StartBot, job_of

EN = CATALOGUE["en"]


async def test_a_backup_restored_in_another_folder_serves_profile_delete_and_remix(
    tg: FakeTelegram, start_bot: StartBot, tmp_path: Path
) -> None:
    first = tmp_path / "host-a" / "data"
    bot = await start_bot(data_dir=first)
    ann, bob, rex = tg.user(42, "Ann"), tg.user(43, "Bob"), tg.user(60, "Rex")
    for person in (ann, bob):
        result = await bot.deliver(person)
        tg.tap(person, result, f"pick:{job_of(result)}:0")
    await bot.until(lambda: popups(tg).count(EN["posted"]) == 2, "both posted")
    posts = {user: (post, message) for user, post, message in bot.db(
        "SELECT user_id, id, channel_message_id FROM posts")}  # fmt: skip
    key = (first / "pseudonym.key").read_bytes()

    # the operator's backup, while the bot runs
    archive = tmp_path / "backups" / "immu.tar"
    code, output = await run_immu("backup", str(archive), data_dir=first)
    assert code == 0, output
    assert "the store and 16 files" in output  # per job: photo, cover, 3 MP3s, 3 PNGs
    await bot.stop()
    shutil.rmtree(tmp_path / "host-a")  # the old host is gone

    second = tmp_path / "host-b" / "immu"
    code, output = await run_immu("restore", str(archive), data_dir=second)
    assert code == 0, output
    assert (second / "pseudonym.key").read_bytes() == key  # people keep their pseudonyms
    composer = FakeComposer()
    bot = await start_bot(composer, data_dir=second)

    # Ann's profile links her post, made on the old host
    ann_post, ann_message = posts[42]
    tg.send_text(ann, "/profile")
    link = f"https://t.me/{CHANNEL_USERNAME}/{ann_message}"
    await bot.until(lambda: any(link in text for text in answers(tg, 42)), "Ann's profile")

    # Bob deletes his old post from the channel
    bob_post, bob_message = posts[43]
    tg.send_text(bob, "/delete")
    menu = await bot.until(lambda: keyboard_message(tg, 43, "del"), "the delete menu")
    tg.tap(bob, menu, f"del:{bob_post}")
    await bot.until(lambda: EN["deleted"] in popups(tg), "deleted")
    assert tg.calls_to("deleteMessage", chat_id=CHANNEL, message_id=bob_message)

    # Rex remixes Ann's old post: its track and photo come from the restored files
    tg.send_text(rex, f"/start remix-{ann_post}")
    remix = await bot.result_for(60)
    ((png,),) = bot.db(
        "SELECT t.png_path FROM tracks t JOIN posts p ON p.job_id = t.job_id"
        " AND p.track_idx = t.idx WHERE p.id = ?",
        ann_post,
    )
    assert composer.requests[-1].options.remix_png == (second / png).read_bytes()
    tg.tap(rex, remix, f"pick:{job_of(remix)}:0")
    await bot.until(lambda: popups(tg).count(EN["posted"]) == 3, "the remix posted")
    assert len([m for m in tg.chat_messages(CHANNEL_ID) if "video" in m]) == 2  # Ann's, Rex's
