"""Likes are the positive reactions only (``IMMU_LIKE_REACTIONS``); every reaction is kept."""

from __future__ import annotations

from tests.bot.test_feed import _post
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.harness import answers
from tests.support.inprocess import StartBot


async def test_a_thumbs_down_is_not_a_like_and_profile_and_top_count_only_likes(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    # reaction counts reach only a bot that asks for them by name
    assert "message_reaction_count" in tg.calls_to("getUpdates")[0].params["allowed_updates"]
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")
    await _post(bot, ann)
    (channel_message,) = [m["message_id"] for m in tg.chat_messages(CHANNEL_ID)]
    tg.react(channel_message, {"👍": 2, "👎": 5, "💩": 3})
    await bot.until(lambda: len(bot.db("SELECT * FROM reactions")) == 3, "reactions stored")
    assert bot.db("SELECT likes FROM posts") == [(2,)]  # the 👎 and 💩 are kept, not liked
    assert sorted(bot.db("SELECT emoji, count FROM reactions")) == sorted(
        [("👍", 2), ("👎", 5), ("💩", 3)]
    )

    tg.send_text(ann, "/profile")
    await bot.until(lambda: answers(tg, 42)[-1].startswith("<b>Your posts</b>"), "profile")
    assert "2 likes in all" in answers(tg, 42)[-1]
    tg.send_text(bob, "/top")
    (top,) = await bot.until(lambda: answers(tg, 43), "top")
    assert "2 likes" in top

    tg.react(channel_message, {"👎": 9})  # only dislikes now: off the leaderboard
    await bot.until(lambda: bot.db("SELECT likes FROM posts") == [(0,)], "no likes")
    tg.send_text(bob, "/top")
    await bot.until(lambda: len(answers(tg, 43)) == 2, "top again")
    assert answers(tg, 43)[1] == "No likes yet this week."


async def test_the_operator_chooses_which_reactions_are_likes(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(like_reactions="🔥, ❤️")  # as written in .env, with U+FE0F
    await _post(bot, tg.user(42, "Ann"))
    (channel_message,) = [m["message_id"] for m in tg.chat_messages(CHANNEL_ID)]
    tg.react(channel_message, {"👍": 4, "❤": 2, "🔥": 1})  # Telegram's ❤ has no U+FE0F
    await bot.until(lambda: len(bot.db("SELECT * FROM reactions")) == 3, "reactions stored")
    assert bot.db("SELECT likes FROM posts") == [(3,)]
