"""The whole bot under a burst and Telegram's everyday faults, all at once: rate limits,
502s (nginx's HTML page and the Bot API's JSON) and uploads answered late though done."""

from __future__ import annotations

import re
from functools import partial

from bot.telegram.texts import CATALOGUE
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.harness import results
from tests.support.inprocess import PHOTO, RunningBot, StartBot, job_of

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
    # a 502 after an upload leaves a post unconfirmed: its owner looks in the channel and
    # forwards the post if it is there, or taps the track again if it is not
    for _ in range(5):
        await bot.until(
            lambda: (
                bot.db("SELECT COUNT(*) FROM posts WHERE status IN ('posted', 'unknown')")
                == [(PICKERS,)]
            ),
            "every choice posted or left to its owner",
            timeout=180,
        )
        unknown = bot.db(
            "SELECT id, user_id, job_id, track_idx FROM posts WHERE status = 'unknown'"
        )
        if not unknown:
            break
        told = {user_id: _told_unknown(tg, user_id) for _, user_id, _, _ in unknown}
        for post_id, user_id, job_id, track_idx in unknown:
            person = next(p for p in people if p["id"] == user_id)
            mark = re.compile(rf"remix-{post_id}(?!\d)")  # post 1's, never post 17's
            shown = [m for m in tg.chat_messages(CHANNEL_ID) if mark.search(str(m))]
            if shown:
                tg.forward(person, shown[0])
            else:
                (result,) = results(tg, user_id)
                tg.tap(person, result, f"pick:{job_id}:{track_idx}")

        acted = partial(_acted_on, bot, tg, {row[0] for row in unknown}, told)
        await bot.until(acted, "the owners' answers taken", timeout=180)
    assert bot.db("SELECT COUNT(*) FROM posts WHERE status = 'posted'") == [(PICKERS,)]
    await bot.settled()
    for n, person in enumerate(people):
        audios = [m for m in tg.chat_messages(person["id"]) if "audio" in m]
        assert len(audios) <= 3, person["first_name"]  # never a fourth audio
        choices = [m for m in tg.chat_messages(person["id"]) if "reply_markup" in m
                   and ("pick:" in str(m["reply_markup"]) or "t.me/" in str(m["reply_markup"]))]  # fmt: skip
        assert len(choices) == 1  # one keyboard, a link to the post once picked
        assert ("t.me/" in str(choices[0]["reply_markup"])) == (n < PICKERS)
    # an audio whose answer was a 502 is taken as sent (a second copy would be worse):
    # only those may be missing
    missing = 3 * PEOPLE - sum(
        1 for person in people for m in tg.chat_messages(person["id"]) if "audio" in m
    )
    assert missing <= chaos.counts.get("502-html", 0) + chaos.counts.get("502-json", 0)
    posts = [m for m in tg.chat_messages(CHANNEL_ID) if "video" in m]
    assert len(posts) == PICKERS  # each tap posted once, none twice
    recorded = {row[0] for row in bot.db("SELECT channel_message_id FROM posts")}
    assert recorded == {m["message_id"] for m in posts}  # and every post is recorded
    assert chaos.counts.get("429", 0) > 0  # the faults did happen
    assert chaos.counts.get("502-html", 0) + chaos.counts.get("502-json", 0) > 0


def _acted_on(bot: RunningBot, tg: FakeTelegram, acted: set[int], told: dict[int, int]) -> bool:
    """Each acted-on post settled, or its owner told once more that it is unconfirmed."""
    return all(
        status != "unknown" or _told_unknown(tg, user_id) > told[user_id]
        for post_id, user_id, status in bot.db("SELECT id, user_id, status FROM posts")
        if post_id in acted
    )


def _told_unknown(tg: FakeTelegram, user_id: int) -> int:
    """How often the person heard that Telegram did not confirm their post."""
    words = {CATALOGUE[lang]["post_unknown"] for lang in CATALOGUE}
    return sum(1 for m in tg.chat_messages(user_id) if m.get("text") in words)
