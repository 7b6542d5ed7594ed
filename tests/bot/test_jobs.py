"""The job loop: a photo is queued, composed, saved and delivered once, whatever fails."""

from __future__ import annotations

from typing import Any

from bot.telegram.texts import CATALOGUE
from pipeline import Stage
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import replies, results, texts_to
from tests.support.inprocess import PHOTO, StartBot, buttons, job_of

EN = CATALOGUE["en"]


def _status_edits(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [str(c.params["text"]) for c in tg.calls_to("editMessageText", chat_id=chat_id)]


async def test_a_photo_is_queued_composed_and_delivered_as_three_tracks_and_a_choice(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer(genres=("bossa nova", "ambient", "acoustic folk"), mood="serene")
    gate = composer.hold(Stage.CAPTION)
    bot = await start_bot(composer)
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")

    tg.send_photo(ann, PHOTO)
    await gate.reached()
    tg.send_photo(bob, PHOTO)  # Ann's job holds the lane: Bob waits behind it
    await bot.until(lambda: replies(tg, 43), "Bob queued")
    assert replies(tg, 42)[0] == EN["queued"].format(position=1)
    assert replies(tg, 43)[0] == EN["queued"].format(position=2)
    gate.release()

    result = await bot.result_for(42)
    job = job_of(result)
    audios = tg.calls_to("sendAudio", chat_id=42)
    assert [c.params["title"] for c in audios] == [
        "1. bossa nova",
        "2. ambient",
        "3. acoustic folk",
    ]
    assert [c.params["caption"] for c in audios] == [
        EN["track_caption"].format(n=n, genre=g)
        for n, g in ((1, "bossa nova"), (2, "ambient"), (3, "acoustic folk"))
    ]
    for call in audios:
        assert call.files["audio"][:3] == b"ID3" and call.files["thumbnail"][:2] == b"\xff\xd8"
        assert call.params["performer"] == "IMMU"
    assert "Mood: serene" in result["text"] and "Track 2: ambient" in result["text"]
    assert [b["callback_data"] for b in buttons(result)] == [
        f"pick:{job}:0", f"pick:{job}:1", f"pick:{job}:2", f"regen:{job}", f"cancel:{job}",
    ]  # fmt: skip
    await bot.until(lambda: EN["delivered"] in _status_edits(tg, 42), "the status says done")
    await bot.result_for(43)

    # what the composer got: the photo as a clean JPEG, a seed; what the store kept
    first = composer.requests[0]
    assert first.job_id == job and first.photo[:2] == b"\xff\xd8" and first.photo != PHOTO
    assert composer.job_ids == [job, job + 1]
    assert bot.db("SELECT status FROM jobs WHERE id = ?", job) == [("delivered",)]
    folder = bot.data_dir / "jobs" / str(job)
    assert sorted(p.name for p in folder.iterdir()) == [
        "cover.jpg", "track-1.mp3", "track-1.png", "track-2.mp3", "track-2.png",
        "track-3.mp3", "track-3.png",
    ]  # fmt: skip
    assert (folder / "track-2.mp3").read_bytes() == audios[1].files["audio"]


async def test_rate_limits_server_errors_and_lost_messages_still_deliver_once(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    tg.fail("sendAudio", 429, "Too Many Requests: retry after 1", retry_after=1, times=2)
    tg.fail(
        "sendMessage", 502, "Bad Gateway", match=lambda p: "pick:" in str(p.get("reply_markup"))
    )
    tg.fail("editMessageText", 400, "Bad Request: message to edit not found", times=3)
    ann = tg.user(42, "Ann")
    await bot.deliver(ann)
    await bot.settled()  # a repeated delivery would have been queued before the marker
    # photo, "got it" (its edit to "queued" found no message: a new status is sent),
    # status, 3 audios, keyboard
    assert len(tg.chat_messages(42)) == 1 + 2 + 3 + 1
    assert len(results(tg, 42)) == 1
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3 + 2  # two answered 429, then sent


async def test_a_telegram_timeout_ends_with_the_result_delivered(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    tg.slow("sendAudio", 6)  # longer than PTB's default 5 s read timeout; done all the same
    await bot.deliver(tg.user(42, "Ann"))
    await bot.settled()
    audios = [m for m in tg.chat_messages(42) if "audio" in m]
    assert len(results(tg, 42)) == 1
    assert len(audios) == 3  # an upload waits for its late answer: no fourth audio
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3


async def test_an_upload_never_confirmed_is_taken_as_sent_not_sent_again(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(upload_timeout_s=5)
    tg.slow("sendAudio", 7)  # past even the upload timeout: Telegram may have it
    await bot.deliver(tg.user(42, "Ann"))
    await bot.settled()
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3
    assert bot.db("SELECT message_id FROM tracks WHERE job_id = 1 AND idx = 0") == [(0,)]


async def test_a_delivery_telegram_refuses_ends_with_one_message(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    tg.fail("sendAudio", 400, "Bad Request: wrong file identifier", times=99,
            match=lambda p: str(p.get("chat_id")) == "42")  # fmt: skip
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    await bot.until(lambda: bot.job_statuses() == ["failed"], "the job ended")
    await bot.until(lambda: EN["delivery_failed"] in texts_to(tg, 42), "the person told")
    await bot.settled()
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 1  # never tried again


async def test_a_delivery_that_keeps_failing_stops_after_its_tries(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(max_attempts=3)
    # a rate limit says the audio was not sent: the delivery is tried again, up to its tries
    tg.fail("sendAudio", 429, "Too Many Requests: retry after 1", retry_after=1, times=99,
            match=lambda p: str(p.get("chat_id")) == "42")  # fmt: skip
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    await bot.until(lambda: bot.job_statuses() == ["failed"], "the job ended")
    await bot.until(lambda: EN["delivery_failed"] in texts_to(tg, 42), "the person told")
    assert bot.db("SELECT delivery_attempts FROM jobs WHERE user_id = 42") == [(3,)]


async def test_an_audio_whose_answer_was_lost_is_taken_as_sent(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    """Telegram sent it, then a 502: a second copy of the track would be worse than none."""
    bot = await start_bot()
    tg.lose_answer("sendAudio", 502)
    await bot.deliver(tg.user(42, "Ann"))
    await bot.until(lambda: bot.job_statuses() == ["delivered"], "delivered")
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3


async def test_the_choice_keyboard_is_never_sent_twice(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    """A slow answer is waited for; a lost one puts the keyboard on the status message."""
    bot = await start_bot()
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")

    def choices(params: dict[str, Any]) -> bool:
        return "pick:" in str(params.get("reply_markup"))

    tg.slow("sendMessage", 6, match=choices)  # past PTB's 5 s read timeout, not the keyboard's
    await bot.deliver(ann)
    assert len([c for c in tg.calls_to("sendMessage", chat_id=42) if choices(c.params)]) == 1

    tg.lose_answer("sendMessage", -1, match=choices)  # sent, then the connection dropped
    tg.send_photo(bob, PHOTO)
    await bot.until(lambda: bot.job_statuses() == ["delivered"] * 2, "Bob's tracks delivered")
    assert len([c for c in tg.calls_to("sendMessage", chat_id=43) if choices(c.params)]) == 1
    (status_id,) = bot.db("SELECT status_message_id FROM jobs WHERE user_id = 43")[0]
    (status,) = [m for m in tg.chat_messages(43) if m["message_id"] == status_id]
    assert choices(status)  # the status message carries the keyboard instead
    assert bot.db("SELECT result_message_id FROM jobs WHERE user_id = 43") == [(status_id,)]
