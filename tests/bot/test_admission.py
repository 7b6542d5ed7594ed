"""Admission: limits per person, per day and for the whole queue, under a flood too."""

from __future__ import annotations

from bot.telegram.texts import CATALOGUE, text
from pipeline import Stage
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import answers, popups, replies, results
from tests.support.inprocess import PHOTO, StartBot, job_of

EN, KO = CATALOGUE["en"], CATALOGUE["ko"]


async def test_limits_per_person_per_day_and_queue(tg: FakeTelegram, start_bot: StartBot) -> None:
    composer = FakeComposer()
    gate = composer.hold(Stage.CAPTION)  # Ann's first job stays in flight until released
    bot = await start_bot(composer, max_jobs_per_user=1, max_photos_per_day=2, max_queue=2)
    ann, bob, cy = tg.user(42, "Ann"), tg.user(43, "Bob"), tg.user(44, "Cy", language="ko")

    tg.send_photo(ann, PHOTO)
    await gate.reached()
    tg.send_photo(ann, PHOTO)  # one in flight per person
    # answered at once, then that answer edited to the refusal
    await bot.until(lambda: text("en", "limit_in_flight", n=1) in replies(tg, 42), "refused")
    assert answers(tg, 42) == [EN["received"]] * 2
    tg.send_photo(bob, PHOTO)
    await bot.until(lambda: replies(tg, 43), "Bob answered")
    assert replies(tg, 43)[0] == EN["queued"].format(position=2)
    assert answers(tg, 43) == [EN["received"]]  # answered at once, then that message edited
    tg.send_photo(cy, PHOTO)  # the queue holds 2: Cy is asked to come back, in Korean
    await bot.until(lambda: replies(tg, 44), "Cy answered")
    assert replies(tg, 44) == [KO["busy"]] and answers(tg, 44) == [KO["received"]]
    assert tg.chat_messages(44)[-1].get("reply_markup") is None

    gate.release()
    await bot.result_for(42)
    tg.send_photo(ann, PHOTO)  # second of the day: fine once the first is done
    await bot.result_for(42, 2)
    tg.send_photo(ann, PHOTO)  # third of the day: refused
    await bot.until(lambda: text("en", "limit_daily", n=2) in replies(tg, 42), "daily limit")
    assert sum(t.startswith("Got your photo") for t in replies(tg, 42)) == 2
    assert len(composer.requests) == 3  # Ann twice, Bob once; Cy and the refusals never ran


async def test_new_tracks_from_a_photo_count_against_the_limits(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer, max_jobs_per_user=1)
    ann = tg.user(42, "Ann")
    first = await bot.deliver(ann)
    gate = composer.hold(Stage.CAPTION)
    tg.send_photo(ann, PHOTO)  # a second photo, held in flight
    await gate.reached()
    tg.tap(ann, first, f"regen:{job_of(first)}")
    await bot.until(lambda: popups(tg), "the refusal")
    assert popups(tg) == [text("en", "limit_in_flight", n=1)]
    gate.release()
    await bot.result_for(42, 2)
    assert len(composer.requests) == 2


async def test_a_flood_is_bounded_and_every_accepted_job_completes(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    gate = composer.hold(Stage.CAPTION)  # nothing finishes during the flood
    bot = await start_bot(composer, max_queue=8, max_jobs_per_user=2)

    # One person sends 50 photos at once: two are accepted, the rest refused. (The sizes
    # are 16 concurrent handlers' worth several times over; more would mostly measure the
    # bot's 30 messages per second rate limiter.)
    flooder = tg.user(500, "Flood")
    for _ in range(50):
        tg.send_photo(flooder, PHOTO)
    limit = text("en", "limit_in_flight", n=2)

    def flood_answered() -> bool:
        texts = replies(tg, 500)
        return texts.count(limit) == 48 and sum(t.startswith("Got your photo") for t in texts) == 2

    await bot.until(flood_answered, "an answer to each of the 50")
    assert len(answers(tg, 500)) == 50  # one message per photo: "got it", then edited

    # then 100 people at once: the queue of 8 takes six more, the others are told to wait
    crowd = [tg.user(1000 + i, f"U{i}", language="ko" if i % 3 == 0 else "en") for i in range(100)]
    for person in crowd:
        tg.send_photo(person, PHOTO)
    await bot.until(lambda: all(replies(tg, p["id"]) for p in crowd), "an answer to everyone")
    accepted = [p["id"] for p in crowd if replies(tg, p["id"])[0].startswith(("Got", "사진을"))]
    busy = [p["id"] for p in crowd if replies(tg, p["id"]) in ([EN["busy"]], [KO["busy"]])]
    assert len(accepted) == 6 and len(busy) == 94
    assert all(len(answers(tg, p["id"])) == 1 for p in crowd)  # one answer each

    # every accepted job is delivered, exactly once
    gate.release()
    for chat in [500, *accepted]:
        await bot.result_for(chat, 2 if chat == 500 else 1)
    await bot.settled()
    assert len(results(tg, 500)) == 2 and all(len(results(tg, c)) == 1 for c in accepted)
    assert len(composer.requests) == 8 + 1  # the accepted, then the marker
    assert len(set(composer.job_ids)) == 9


async def test_a_soft_launch_composes_only_for_invited_people_and_operators(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer, allowed_ids=[42], admin_ids=[7])
    ann, op, bob = tg.user(42, "Ann"), tg.user(7, "Op"), tg.user(43, "Bob", language="ko")
    tg.send_photo(bob, PHOTO)
    await bot.until(lambda: answers(tg, 43), "Bob answered")
    assert answers(tg, 43) == [KO["not_invited"]]  # one line, no "Got it"
    first = await bot.deliver(ann)  # invited
    await bot.deliver(op)  # an operator always is
    tg.tap(ann, first, f"pick:{job_of(first)}:0")
    await bot.until(lambda: bot.db("SELECT status FROM posts") == [("posted",)], "Ann's post")
    tg.send_text(bob, "/start remix-1")  # nor a remix of Ann's post
    await bot.until(lambda: len(answers(tg, 43)) == 2, "Bob answered again")
    assert answers(tg, 43) == [KO["not_invited"]] * 2
    assert len(tg.calls_to("getFile")) == 2  # Ann's photo and the operator's, never Bob's
    assert bot.db("SELECT user_id FROM jobs ORDER BY id") == [(42,), (7,)]
    assert bot.db("SELECT COUNT(*) FROM users WHERE id = 43") == [(0,)]  # nothing of his kept
    assert len(composer.requests) == 2
