"""Publishing exactly once when Telegram's answer is lost, and settling such a post."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.telegram.texts import CATALOGUE, text
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import answers, media_posts, popups
from tests.support.inprocess import RunningBot, StartBot, job_of

EN = CATALOGUE["en"]
ADMIN = 7


async def _unconfirmed_post(
    tg: FakeTelegram, bot: RunningBot, user: dict[str, Any], lost: int = 502
) -> dict[str, Any]:
    """The person picks a track; Telegram posts it, and its answer is lost."""
    result = await bot.deliver(user)
    tg.lose_answer("sendVideo", lost)
    tg.tap(user, result, f"pick:{job_of(result)}:0")
    await bot.until(lambda: EN["post_unknown"] in answers(tg, user["id"]), "the person told")
    (post,) = media_posts(tg)
    return post


@pytest.mark.parametrize("lost", [502, -1], ids=["a 502 after posting", "a dropped connection"])
async def test_a_post_telegram_carried_out_is_never_posted_again_by_itself(
    tg: FakeTelegram, start_bot: StartBot, lost: int
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    await _unconfirmed_post(tg, bot, ann, lost)
    await bot.until(lambda: popups(tg) == [EN["post_unknown_popup"]], "the popup, once")
    await composer.alive_asked(composer.alive_checks + 3)  # retry rounds went by
    assert len(media_posts(tg)) == 1 and len(tg.calls_to("sendVideo")) == 1
    assert bot.db("SELECT status, channel_message_id FROM posts") == [("unknown", None)]


async def test_the_owner_settles_an_unconfirmed_post_by_forwarding_it(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")
    channel_post = await _unconfirmed_post(tg, bot, ann)
    (post_id,) = bot.db("SELECT id FROM posts")[0]

    # Bob cannot claim Ann's post; a message from elsewhere settles nothing
    tg.forward(bob, channel_post)
    await bot.until(lambda: EN["forward_not_yours"] in answers(tg, 43), "Bob told")
    tg.forward(ann, tg.send_text(bob, "hello"))  # not a channel post: no forward handler
    assert bot.db("SELECT status FROM posts") == [("unknown",)]

    tg.forward(ann, channel_post)
    await bot.until(lambda: EN["forward_settled"] in answers(tg, 42), "settled")
    message_id = channel_post["message_id"]
    assert bot.db("SELECT status, channel_message_id FROM posts") == [("posted", message_id)]
    # the forward carries the post's file: it can be shared inline like any other
    kept = (channel_post["video"]["file_id"], "video")
    assert bot.db("SELECT file_id, file_kind FROM posts") == [kept]

    tg.react(message_id, {"👍": 5})  # likes now count on it
    await bot.until(lambda: bot.db("SELECT likes FROM posts") == [(5,)], "likes")
    tg.tap(ann, tg.chat_messages(42)[-1], f"del:{post_id}")  # and it can be deleted
    await bot.until(lambda: tg.calls_to("deleteMessage", message_id=message_id), "deleted")
    # the row goes once Telegram confirmed the delete: after the call, not with it
    await bot.until(lambda: bot.db("SELECT COUNT(*) FROM posts") == [(0,)], "row deleted")
    assert media_posts(tg) == []


async def test_an_unconfirmed_post_is_never_reported_as_deleted(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(admin_ids=[ADMIN])
    ann = tg.user(42, "Ann")
    await _unconfirmed_post(tg, bot, ann)
    (post_id,) = bot.db("SELECT id FROM posts")[0]

    in_chat = tg.chat_messages(42)[-1]  # the buttons are in Ann's private chat
    tg.tap(ann, in_chat, f"del:{post_id}")
    await bot.until(lambda: EN["delete_unconfirmed"][:150] in popups(tg)[-1], "delete refused")
    assert bot.db("SELECT status FROM posts") == [("unknown",)]

    tg.tap(ann, in_chat, "forget:42")
    await bot.until(lambda: bot.db("SELECT COUNT(*) FROM users") == [(0,)], "forgotten")
    said = EN["forgotten"] + "\n" + text("en", "forgotten_unconfirmed", count=1)
    await bot.until(lambda: said in answers(tg, 42), "the truth, in the chat")
    await bot.until(lambda: answers(tg, ADMIN), "the operators told")
    assert "/forget with 1 post Telegram never confirmed" in answers(tg, ADMIN)[0]
    assert tg.calls_to("deleteMessage") == []  # nothing claimed, nothing deleted blindly


async def test_a_ban_purge_does_not_count_an_unconfirmed_post_as_removed(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(admin_ids=[ADMIN])
    await _unconfirmed_post(tg, bot, tg.user(42, "Ann"))
    tg.send_text(tg.user(ADMIN, "Op"), "/ban 42 --purge")
    done = EN["ban_done"].format(user=42, jobs=0, posts=0)
    expected = done + "\n" + text("en", "purge_unconfirmed", count=1)
    await bot.until(lambda: expected in answers(tg, ADMIN), "the operator told the truth")


async def test_a_post_that_fails_fails_alone(
    tg: FakeTelegram, start_bot: StartBot, tmp_path: Path
) -> None:
    """A pending post whose files are gone fails with one line; the next one still goes."""
    composer = FakeComposer()
    bot = await start_bot(composer)
    rex, bob = tg.user(44, "Rex"), tg.user(43, "Bob")
    rex_result, bob_result = await bot.deliver(rex), await bot.deliver(bob)
    tg.bot_is_channel_admin = False  # the channel refuses until an operator fixes it
    tg.tap(rex, rex_result, f"pick:{job_of(rex_result)}:0")
    tg.tap(bob, bob_result, f"pick:{job_of(bob_result)}:1")
    await bot.until(lambda: popups(tg) == [EN["post_pending"]] * 2, "both picks pending")
    mp3s = list((bot.data_dir / "jobs" / str(job_of(rex_result))).glob("*.mp3"))
    assert mp3s
    for mp3 in mp3s:
        mp3.unlink()  # an operator's mistake, a disk fault: Rex's post cannot be made
    await bot.until(lambda: EN["post_failed"] in answers(tg, 44), "Rex told")
    tg.bot_is_channel_admin = True
    await bot.until(lambda: media_posts(tg), "Bob's post still goes out")
    await composer.alive_asked(composer.alive_checks + 2)
    assert sorted(bot.db("SELECT user_id, status FROM posts")) == [(43, "posted"), (44, "failed")]
    assert answers(tg, 44).count(EN["post_failed"]) == 1


async def test_a_second_tap_during_a_slow_upload_never_posts_twice(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    """The button still spins while the upload waits: a tap queued behind the first try
    is answered, not posted again, even when the first try ends unconfirmed."""
    bot = await start_bot(upload_timeout_s=5)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    tg.slow("sendVideo", 7)  # carried out, answered after the 5 s read timeout
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    await bot.until(lambda: tg.calls_to("sendVideo"), "the upload on its way")
    tg.tap(ann, result, f"pick:{job_of(result)}:0")  # impatient
    await bot.until(lambda: len(popups(tg)) == 2, "both taps answered")
    assert popups(tg) == [EN["post_unknown_popup"]] * 2
    assert len(tg.calls_to("sendVideo")) == 1 and len(media_posts(tg)) == 1


async def test_a_send_a_shutdown_interrupted_is_never_sent_again(
    tg: FakeTelegram, start_bot: StartBot, tmp_path: Path
) -> None:
    """The retry loop was uploading when the operator restarted the bot: after the start,
    the post is unconfirmed and its owner asked, not posted a second time."""
    data = tmp_path / "data"
    composer = FakeComposer()
    bot = await start_bot(composer, data_dir=data)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    tg.bot_is_channel_admin = False  # refused: the choice waits for the retry loop
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    await bot.until(lambda: popups(tg) == [EN["post_pending"]], "pending")
    upload = tg.hold("sendVideo")
    tg.bot_is_channel_admin = True
    await bot.until(lambda: upload.arrived, "the retry on its way")
    await bot.stop()  # SIGTERM while the upload is in flight
    upload.release()  # Telegram carried it out
    await tg.until(lambda: len(media_posts(tg)) == 1, 30, "the post in the channel")

    sent = len(tg.calls_to("sendVideo"))
    after = FakeComposer()
    again = await start_bot(after, data_dir=data)
    await again.until(lambda: EN["post_unknown"] in answers(tg, 42), "Ann asked at the start")
    await after.alive_asked(after.alive_checks + 2)  # the retry loop went round since
    assert again.db("SELECT status FROM posts") == [("unknown",)]
    assert len(tg.calls_to("sendVideo")) == sent and len(media_posts(tg)) == 1


async def test_a_forward_settles_a_post_with_what_its_caption_showed(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    """The message in the channel is the first send's: a later try that never went out,
    with the name turned on since, says nothing of what that message shows."""
    bot = await start_bot()
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    tg.lose_answer("sendVideo")  # anonymous, as by default: posted, the answer lost
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    await bot.until(lambda: EN["post_unknown"] in answers(tg, 42), "the person told")
    (channel_post,) = media_posts(tg)
    tg.send_text(ann, "/anonymous")
    await bot.until(lambda: EN["anonymous_off"] in answers(tg, 42), "name shown")
    tg.fail("sendVideo", 400, "Bad Request: wrong file identifier")  # refused: not posted
    tg.tap(ann, result, f"pick:{job_of(result)}:0")  # "it is not in the channel"
    await bot.until(lambda: EN["post_failed"] in popups(tg), "the try refused")
    assert len(media_posts(tg)) == 1
    assert bot.db("SELECT status, named FROM posts") == [("failed", 1)]  # the try's caption

    tg.forward(ann, channel_post)  # it was in the channel all along, without her name
    await bot.until(lambda: EN["forward_settled"] in answers(tg, 42), "settled")
    assert "by Ann" not in channel_post["caption"] and "Photo: " in channel_post["caption"]
    assert bot.db("SELECT status, named, described FROM posts") == [("posted", 0, 1)]
