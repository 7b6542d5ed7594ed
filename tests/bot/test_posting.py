"""Posting: the owner's choice goes to the channel exactly once; nobody else may choose."""

from __future__ import annotations

from typing import Any

from bot.telegram.texts import CATALOGUE
from pipeline import Stage
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.harness import answers, keyboard_message, media_posts, popups, texts_to
from tests.support.inprocess import CHANNEL, PHOTO, RunningBot, StartBot, buttons, job_of

EN = CATALOGUE["en"]


async def _popups(bot: RunningBot, count: int) -> list[str]:
    """The first ``count`` answers to button taps, once they are all in."""
    await bot.until(lambda: len(bot.tg.calls_to("answerCallbackQuery")) >= count, "answers")
    return popups(bot.tg)[:count]


async def _posted(bot: RunningBot, who: dict[str, Any], answered: int) -> dict[str, Any]:
    """Three tracks delivered to ``who``, the first one picked and posted: the result
    message, once the pick is the ``answered``-th tap answered."""
    result = await bot.deliver(who)
    bot.tg.tap(who, result, f"pick:{job_of(result)}:0")
    await _popups(bot, answered)
    return result


async def test_a_pick_posts_once_and_the_keyboard_becomes_a_link(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    job = job_of(result)

    tg.fail("editMessageReplyMarkup", 502, "Bad Gateway")  # the link's first try is lost
    tg.tap(ann, result, f"pick:{job}:1")
    assert await _popups(bot, 1) == [EN["posted"]]
    (post,) = tg.calls_to("sendVideo")
    assert post.params["chat_id"] == CHANNEL
    assert post.files["video"][4:8] == b"ftyp"  # an MP4, made by the real encoder

    def shown() -> dict[str, Any]:
        (message,) = [m for m in tg.chat_messages(42) if m["message_id"] == result["message_id"]]
        return message

    await bot.until(lambda: "url" in str(shown().get("reply_markup")), "the link, after a 502")
    channel_message = media_posts(tg)[0]["message_id"]
    assert buttons(shown()) == [
        {"text": EN["button_view_post"], "url": f"https://t.me/immu_feed/{channel_message}"}
    ]
    assert bot.db("SELECT track_idx, status, channel_message_id FROM posts") == [
        (1, "posted", channel_message)
    ]

    # a double tap, and a tap on another track, never post again
    tg.tap(ann, result, f"pick:{job}:1")
    tg.tap(ann, result, f"pick:{job}:2")
    assert (await _popups(bot, 3))[1:] == [EN["already_posted"]] * 2
    await composer.alive_asked(2)  # the background retry has looked at least once since
    assert len(tg.calls_to("sendVideo")) == 1 and len(media_posts(tg)) == 1


async def test_a_refused_post_waits_and_is_posted_once_when_the_channel_is_back(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    tg.fail("sendVideo", 403, "Forbidden: bot is not a member of the channel chat", times=2)
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await _popups(bot, 1) == [EN["post_pending"]]
    await bot.until(lambda: media_posts(tg), "posted later")
    await bot.until(lambda: EN["post_retry_done"] in answers(tg, 42), "told")
    await composer.alive_asked(2)
    assert len(media_posts(tg)) == 1 and answers(tg, 42).count(EN["post_retry_done"]) == 1
    assert len(tg.calls_to("sendVideo")) == 3  # refused twice, then posted
    assert bot.db("SELECT status, attempts FROM posts") == [("posted", 3)]


async def test_a_stranger_cannot_pick_regenerate_cancel_or_delete(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")
    result = await bot.deliver(ann)
    job = job_of(result)
    for data in (f"pick:{job}:0", f"regen:{job}", f"cancel:{job}"):
        tg.tap(bob, result, data)  # the right button data, the wrong person
    assert await _popups(bot, 3) == [EN["not_yours"]] * 3
    assert tg.calls_to("sendVideo") == [] and composer.job_ids == [job]
    assert bot.job_statuses() == ["delivered"]

    tg.tap(ann, result, f"pick:{job}:0")
    await _popups(bot, 4)
    (post_id,) = bot.db("SELECT id FROM posts")[0]
    tg.tap(bob, result, f"del:{post_id}")  # forged: Bob has no delete menu for it
    assert (await _popups(bot, 5))[4] == EN["not_yours"]
    assert tg.calls_to("deleteMessage") == [] and len(media_posts(tg)) == 1


async def test_junk_and_stale_callback_data_are_answered_and_change_nothing(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    junk = ["pick:999999999999999999999:0", "", "drop:1", f"pick:{job_of(result)}",
            "pick:a:1", "x" * 64, "forget:", "del:-1"]  # fmt: skip
    for data in junk:
        tg.tap(ann, result, data)
    await _popups(bot, len(junk))
    assert [c.params.get("text") for c in tg.calls_to("answerCallbackQuery")] == [None] * len(junk)
    tg.tap(ann, result, "pick:12345:0")  # well formed, but no such job
    tg.tap(ann, result, f"pick:{job_of(result)}:7")  # no such track
    assert (await _popups(bot, len(junk) + 2))[-2:] == [EN["expired"]] * 2
    assert tg.calls_to("sendVideo") == [] and bot.job_statuses() == ["delivered"]


async def test_cancel_while_queued_and_regenerate(tg: FakeTelegram, start_bot: StartBot) -> None:
    composer = FakeComposer()
    gate = composer.hold(Stage.CAPTION)
    bot = await start_bot(composer, max_jobs_per_user=3)
    ann = tg.user(42, "Ann")
    tg.send_photo(ann, PHOTO)
    (job1,) = await gate.reached()
    tg.send_photo(ann, PHOTO)
    second = await bot.until(lambda: keyboard_message(tg, 42, "cancel") if len(answers(tg, 42)) == 2 else None, "second queued")  # fmt: skip
    assert second["text"] == EN["queued"].format(position=2)
    job2 = job_of(second)
    tg.tap(ann, second, f"cancel:{job2}")
    assert await _popups(bot, 1) == [EN["cancelled"]]
    assert tg.chat_messages(42)[-1]["text"] == EN["cancelled"]  # the status message says so

    # the job being composed cannot be cancelled any more
    first_status = tg.chat_messages(42)[1]  # after the photo: job 1's status message
    tg.tap(ann, first_status, f"cancel:{job1}")
    assert (await _popups(bot, 2))[1] == EN["cannot_cancel"]
    gate.release()
    first = await bot.result_for(42)

    tg.tap(ann, first, f"regen:{job_of(first)}")  # new tracks from the same photo
    await bot.result_for(42, 2)
    await bot.until(lambda: bot.job_statuses()[-1] == "delivered", "status delivered")
    job3 = composer.job_ids[-1]
    assert composer.job_ids == [job1, job3]  # the cancelled job never ran, though queued first
    rows = bot.db("SELECT photo_path, seed, status FROM jobs ORDER BY id")
    assert rows[0][0] == rows[2][0] and rows[0][1] != rows[2][1]  # same photo, new seed
    assert [r[2] for r in rows] == ["delivered", "cancelled", "delivered"]
    assert composer.requests[0].photo == composer.requests[1].photo
    assert composer.requests[0].options.seed != composer.requests[1].options.seed


async def test_cancel_after_delivery_drops_the_choice(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    job = job_of(result)
    tg.tap(ann, result, f"cancel:{job}")
    assert await _popups(bot, 1) == [EN["cancelled"]]
    await bot.until(lambda: EN["cancelled"] in texts_to(tg, 42), "the choice says cancelled")
    tg.tap(ann, result, f"pick:{job}:0")
    assert (await _popups(bot, 2))[1] == EN["expired"]
    assert tg.calls_to("sendVideo") == [] and bot.job_statuses() == ["cancelled"]


async def test_the_owner_deletes_a_post_from_the_channel(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    ann = tg.user(42, "Ann")
    await _posted(bot, ann, 1)
    (channel_message,) = [m["message_id"] for m in media_posts(tg)]

    tg.send_text(ann, "/delete")
    menu = await bot.until(lambda: keyboard_message(tg, 42, "del"), "delete menu")
    assert menu["text"] == EN["delete_choose"]
    (button,) = buttons(menu)
    assert button["text"].startswith("Delete: bossa nova, 0 likes, ")  # the genre of track 1
    tg.tap(ann, menu, button["callback_data"])
    assert (await _popups(bot, 2))[1] == EN["deleted"]
    assert [c.params["message_id"] for c in tg.calls_to("deleteMessage", chat_id=CHANNEL)] == [
        channel_message
    ]
    assert media_posts(tg) == []
    tg.send_text(ann, "/profile")
    await bot.until(lambda: EN["profile_empty"] in answers(tg, 42), "empty profile")
    tg.send_text(ann, "/delete")
    await bot.until(lambda: EN["delete_none"] in answers(tg, 42), "nothing left to delete")


async def test_a_late_answer_to_a_channel_post_is_one_recorded_post(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    tg.slow("sendVideo", 6)  # past PTB's default 5 s read timeout; Telegram posts it anyway
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await _popups(bot, 1) == [EN["posted"]]
    await composer.alive_asked(composer.alive_checks + 3)  # the retry loop looked again
    (post,) = media_posts(tg)
    assert len(tg.calls_to("sendVideo")) == 1
    assert bot.db("SELECT status, channel_message_id FROM posts") == [
        ("posted", post["message_id"])
    ]


async def test_an_unconfirmed_post_is_left_to_the_person_never_posted_twice(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer, upload_timeout_s=5)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    tg.slow("sendVideo", 7)  # past even the upload timeout
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await _popups(bot, 1) == [EN["post_unknown_popup"]]
    await composer.alive_asked(composer.alive_checks + 3)
    assert len(tg.calls_to("sendVideo")) == 1 and bot.db("SELECT status FROM posts") == [
        ("unknown",)
    ]
    tg.tap(ann, result, f"pick:{job_of(result)}:0")  # not in the channel: she asks again
    assert (await _popups(bot, 2))[1] == EN["posted"]
    assert len(tg.calls_to("sendVideo")) == 2


async def test_a_post_telegram_refuses_ends_at_once_with_one_message(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    tg.fail("sendVideo", 400, "Bad Request: wrong file identifier/HTTP URL specified", times=99)
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await _popups(bot, 1) == [EN["post_failed"]]
    await composer.alive_asked(composer.alive_checks + 3)
    assert len(tg.calls_to("sendVideo")) == 1  # no loop, no re-encoding
    assert bot.db("SELECT status, attempts FROM posts") == [("failed", 1)]


async def test_a_post_that_keeps_failing_stops_after_its_tries(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer, post_attempts=3)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    tg.fail("sendVideo", 403, "Forbidden: bot is not a member of the channel chat", times=99)
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    assert await _popups(bot, 1) == [EN["post_pending"]]
    await bot.until(lambda: EN["post_failed"] in answers(tg, 42), "the person told")
    await composer.alive_asked(composer.alive_checks + 3)
    assert len(tg.calls_to("sendVideo")) == 3 and answers(tg, 42).count(EN["post_failed"]) == 1
    assert bot.db("SELECT status, attempts FROM posts") == [("failed", 3)]


async def test_forget_while_the_choice_is_being_posted_leaves_no_post(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    upload = tg.hold("sendVideo")
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    await bot.until(lambda: upload.arrived, "the post on its way")
    tg.tap(ann, result, "forget:42")  # /forget confirmed while Telegram has the post
    await bot.until(lambda: len(tg.calls_to("getUpdates")) > 2, "the tap taken")
    upload.release()
    await _popups(bot, 2)
    assert media_posts(tg) == []  # posted, then taken down by the forget that waited
    assert bot.db("SELECT COUNT(*) FROM users") == [(0,)]
    assert bot.db("SELECT COUNT(*) FROM posts") == [(0,)]
    kept = ("immu.db", "pseudonym.key")  # the store, and the install's pseudonym key
    assert [p for p in bot.data_dir.rglob("*") if p.is_file() and not p.name.startswith(kept)] == []


async def test_a_cancel_tapped_while_the_choice_is_posted_cancels_nothing(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(FakeComposer())
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    job = job_of(result)
    upload = tg.hold("sendVideo")
    tg.tap(ann, result, f"pick:{job}:0")
    await bot.until(lambda: upload.arrived, "the post on its way")
    tg.tap(ann, result, f"cancel:{job}")  # waits for the post; then there is nothing to cancel
    await bot.until(lambda: len(tg.calls_to("getUpdates")) > 2, "the tap taken")
    upload.release()
    assert sorted(await _popups(bot, 2)) == sorted([EN["posted"], EN["expired"]])
    assert len(media_posts(tg)) == 1
    assert bot.db("SELECT status FROM jobs") == [("delivered",)]
    assert bot.db("SELECT status FROM posts") == [("posted",)]
    assert EN["cancelled"] not in answers(tg, 42)  # nobody told it was cancelled


async def test_a_pick_tapped_after_cancel_posts_nothing(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(FakeComposer())
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    job = job_of(result)
    tg.tap(ann, result, f"cancel:{job}")
    assert await _popups(bot, 1) == [EN["cancelled"]]
    tg.tap(ann, result, f"pick:{job}:0")  # an old keyboard on another device
    assert (await _popups(bot, 2))[1] == EN["expired"]
    assert media_posts(tg) == [] and bot.db("SELECT COUNT(*) FROM posts") == [(0,)]


async def test_a_post_telegram_will_not_delete_is_blanked_and_the_person_told(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await _posted(bot, ann, 1)
    (post,) = media_posts(tg)
    tg.fail("deleteMessage", 400, "Bad Request: message can't be deleted for everyone")
    tg.tap(ann, result, "del:1")
    assert (await _popups(bot, 2))[1] == EN["delete_edited"]
    (blank,) = tg.chat_messages(CHANNEL_ID)
    assert "video" not in blank and "photo" in blank and "reply_markup" not in blank
    assert blank["caption"] == EN["post_removed"] and blank["message_id"] == post["message_id"]
    assert bot.db("SELECT COUNT(*) FROM posts") == [(0,)]


async def test_a_post_that_stays_public_is_never_called_deleted(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await _posted(bot, ann, 1)
    tg.fail("deleteMessage", 400, "Bad Request: message can't be deleted for everyone")
    tg.fail("editMessageMedia", 400, "Bad Request: message can't be edited")
    tg.tap(ann, result, "del:1")
    assert (await _popups(bot, 2))[1] == EN["delete_failed"]
    assert len(media_posts(tg)) == 1
    assert bot.db("SELECT status FROM posts") == [("posted",)]  # still listed under /delete


async def test_a_delete_whose_answer_is_lost_is_still_a_delete(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    await _posted(bot, ann, 1)
    result = await _posted(bot, ann, 2)
    other, post = media_posts(tg)
    tg.lose_answer("deleteMessage")  # Telegram deletes it; the bot never hears so
    tg.tap(ann, result, "del:2")
    assert (await _popups(bot, 3))[2] == EN["deleted"]
    assert media_posts(tg) == [other]  # the other post untouched
    deletes = tg.calls_to("deleteMessage", chat_id=CHANNEL)
    assert [c.params["message_id"] for c in deletes] == [post["message_id"]] * 2  # asked again
    assert tg.calls_to("editMessageMedia") == []
    assert bot.db("SELECT id FROM posts") == [(1,)]


async def test_a_post_gone_when_the_blank_is_tried_counts_as_deleted(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await _posted(bot, ann, 1)
    (post,) = media_posts(tg)
    tg.lose_answer("deleteMessage", times=2)  # both tries delete it; neither answer comes
    tg.tap(ann, result, "del:1")
    assert (await _popups(bot, 2))[1] == EN["deleted"]  # the blank found nothing to edit
    assert len(tg.calls_to("editMessageMedia", message_id=post["message_id"])) == 1
    assert media_posts(tg) == [] and tg.chat_messages(CHANNEL_ID) == []
    assert bot.db("SELECT COUNT(*) FROM posts") == [(0,)]


async def test_a_channel_the_bot_was_removed_from_is_never_a_delete(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    """Telegram's "chat not found" says the bot is out of the channel, not that the post
    is gone."""
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann = tg.user(42, "Ann")
    result = await _posted(bot, ann, 1)
    tg.fail("deleteMessage", 400, "Bad Request: chat not found")
    tg.fail("editMessageMedia", 400, "Bad Request: chat not found")
    tg.tap(ann, result, "del:1")
    assert (await _popups(bot, 2))[1] == EN["delete_failed"]
    assert len(media_posts(tg)) == 1
    assert bot.db("SELECT status FROM posts") == [("posted",)]  # still listed under /delete
