"""The job loop: a photo is queued, composed, saved and delivered once, whatever fails."""

from __future__ import annotations

import os
from pathlib import Path

from bot.texts import CATALOGUE
from pipeline import PhotoError, PhotoProblem, Stage
from pipeline.fake_composer import FakeComposer
from tests.bot.conftest import StartBot
from tests.bot.harness import replies, results, texts_to
from tests.bot.inprocess import PHOTO, RunningBot, buttons, job_of
from tests.fakes.telegram_server import FakeTelegram

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
    tg.fail("sendAudio", 502, "Bad Gateway", times=99,
            match=lambda p: str(p.get("chat_id")) == "42")  # fmt: skip
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    await bot.until(lambda: bot.job_statuses() == ["failed"], "the job ended")
    await bot.until(lambda: EN["delivery_failed"] in texts_to(tg, 42), "the person told")
    await bot.settled()
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3
    assert bot.db("SELECT delivery_attempts FROM jobs WHERE user_id = 42") == [(3,)]


async def test_a_broken_answer_to_queued_still_puts_the_job_in_line(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    tg.break_answers("sendMessage")  # "Queued" is sent, but the answer is no Message
    await bot.deliver(tg.user(42, "Ann"))
    assert bot.job_statuses() in (["done"], ["delivered"])


async def test_a_person_who_blocked_the_bot_does_not_stop_others(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    tg.fail("sendAudio", 403, "Forbidden: bot was blocked by the user",
            match=lambda p: str(p.get("chat_id")) == "42", times=99)  # fmt: skip
    tg.send_photo(tg.user(42, "Gone"), PHOTO)
    tg.send_photo(tg.user(43, "Here"), PHOTO)
    await bot.result_for(43)
    await bot.until(
        lambda: (
            bot.db("SELECT user_id, status FROM jobs ORDER BY user_id")
            == [(42, "failed"), (43, "delivered")]
        ),
        "Gone's job ended",
    )
    assert results(tg, 42) == []
    assert bot.db("SELECT error FROM jobs WHERE user_id = 42") == [("blocked by the user",)]
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 1  # no retrying someone who left


async def test_a_failed_compose_is_tried_again_and_delivered_once(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    composer.fail_next(1, RuntimeError("the GPU fell over"))
    bot = await start_bot(composer, max_attempts=3)
    result = await bot.deliver(tg.user(42, "Ann"))
    job = job_of(result)
    assert composer.job_ids == [job, job]
    await bot.until(lambda: bot.job_statuses() == ["delivered"], "recorded as delivered")
    assert bot.db("SELECT status, attempts FROM jobs") == [("delivered", 2)]
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3


async def test_a_compose_that_keeps_failing_ends_with_one_clear_message(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    composer.fail_next(2, RuntimeError("out of memory"))
    bot = await start_bot(composer, max_attempts=2)
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    await bot.until(lambda: EN["failed"] in texts_to(tg, 42), "the failure said")
    await bot.until(lambda: bot.job_statuses() == ["failed"], "the job failed")
    assert len(composer.requests) == 2
    assert texts_to(tg, 42).count(EN["failed"]) == 1
    assert tg.calls_to("sendAudio") == []
    (error,) = bot.db("SELECT error FROM jobs")
    assert "out of memory" in error[0]


async def test_a_photo_the_chain_cannot_read_is_refused_without_retrying(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    composer.fail_next(1, PhotoError(PhotoProblem.CORRUPT, "the image is damaged"))
    bot = await start_bot(composer, max_attempts=3)
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    await bot.until(lambda: EN["corrupt"] in texts_to(tg, 42), "the photo problem said")
    await bot.until(lambda: bot.job_statuses() == ["failed"], "the job failed")
    assert len(composer.requests) == 1


async def test_a_full_disk_fails_the_job_clearly_and_keeps_the_store_consistent(
    tg: FakeTelegram, start_bot: StartBot, tmp_path: Path
) -> None:
    # The first track of job 1 is written into /dev/full: a real "No space left on device".
    data_dir = tmp_path / "data"
    folder = data_dir / "jobs" / "1"
    folder.mkdir(parents=True)
    os.symlink("/dev/full", folder / "track-1.mp3.tmp")
    bot = await start_bot(data_dir=data_dir)
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    await bot.until(lambda: EN["storage_failed"] in texts_to(tg, 42), "a clear error")
    await bot.until(lambda: bot.job_statuses() == ["failed"], "the job failed")
    assert bot.db("PRAGMA integrity_check") == [("ok",)]
    assert bot.db("SELECT COUNT(*) FROM tracks") == [(0,)]
    assert not list(data_dir.rglob("*.tmp"))
    assert tg.calls_to("sendAudio") == []


async def test_a_job_in_flight_at_shutdown_is_composed_after_the_next_start(
    tg: FakeTelegram, start_bot: StartBot, tmp_path: Path
) -> None:
    first = FakeComposer()
    gate = first.hold(Stage.MUSIC)
    bot = await start_bot(first)
    tg.send_photo(tg.user(42, "Ann"), PHOTO)
    (job,) = await gate.reached()
    await bot.stop()  # as SIGTERM: the job is left running in the store
    assert bot.db("SELECT status FROM jobs") == [("running",)]

    second = FakeComposer()
    again: RunningBot = await start_bot(second)
    await again.result_for(42)
    await again.settled()
    assert second.job_ids[0] == job and second.job_ids.count(job) == 1
    assert len(results(tg, 42)) == 1 and len(tg.calls_to("sendAudio", chat_id=42)) == 3


async def test_jobs_run_one_at_a_time_in_the_order_they_came(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    gate = composer.hold(Stage.CAPTION)
    bot = await start_bot(composer)
    people = [tg.user(100 + i, f"P{i}") for i in range(3)]
    for person in people:
        tg.send_photo(person, PHOTO)
        await bot.until(lambda p=person: replies(tg, p["id"]), "queued")
    await gate.reached()
    assert gate.jobs == [1] and bot.job_statuses() == ["running", "queued", "queued"]
    gate.release()
    for person in people:
        await bot.result_for(person["id"])
    assert composer.job_ids == [1, 2, 3]
