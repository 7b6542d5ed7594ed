"""The whole bot under a burst and Telegram's everyday faults, all at once: rate limits,
502s (nginx's HTML page and the Bot API's JSON) and uploads answered late though done."""

from __future__ import annotations

from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.harness import results
from tests.support.inprocess import PHOTO, StartBot, job_of

PEOPLE = 30
PICKERS = 20  # Telegram takes 20 posts a minute in a channel: PTB spaces the 21st by 3 s


async def test_thirty_people_under_random_faults_are_served_and_posted_exactly_once(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(FakeComposer(), max_attempts=5, max_queue=2 * PEOPLE)
    chaos = tg.chaos(seed=14, rate_limited=0.05, bad_gateway=0.03, late_upload=0.02, late_s=7)
    tg.slow("sendAudio", 7, times=2)  # late answers for sure, besides the random ones
    tg.slow("sendVideo", 7)
    people = [tg.user(1000 + i, f"P{i}", language="ko" if i % 2 else "en") for i in range(PEOPLE)]
    for person in people:
        tg.send_photo(person, PHOTO)
    for person in people:
        await bot.result_for(person["id"], timeout=180)
    for person in people[:PICKERS]:
        (result,) = results(tg, person["id"])  # one keyboard each
        tg.tap(person, result, f"pick:{job_of(result)}:{person['id'] % 3}")
    await bot.until(
        lambda: bot.db("SELECT COUNT(*) FROM posts WHERE status = 'posted'") == [(PICKERS,)],
        "every choice posted",
        timeout=180,
    )
    await bot.settled()
    for n, person in enumerate(people):
        audios = [m for m in tg.chat_messages(person["id"]) if "audio" in m]
        assert len(audios) == 3, person["first_name"]  # no fourth audio, none missing
        choices = [m for m in tg.chat_messages(person["id"]) if "reply_markup" in m
                   and ("pick:" in str(m["reply_markup"]) or "t.me/" in str(m["reply_markup"]))]  # fmt: skip
        assert len(choices) == 1  # one keyboard, a link to the post once picked
        assert ("t.me/" in str(choices[0]["reply_markup"])) == (n < PICKERS)
    posts = [m for m in tg.chat_messages(CHANNEL_ID) if "video" in m]
    assert len(posts) == PICKERS  # each tap posted once, none twice
    recorded = {row[0] for row in bot.db("SELECT channel_message_id FROM posts")}
    assert recorded == {m["message_id"] for m in posts}  # and every post is recorded
    assert chaos.counts.get("429", 0) > 0  # the faults did happen
    assert chaos.counts.get("502-html", 0) + chaos.counts.get("502-json", 0) > 0
