"""The channel's language (``IMMU_CHANNEL_LANG``): captions, descriptions, buttons, digest."""

from __future__ import annotations

from bot.telegram.texts import CATALOGUE
from tests.bot.test_feed import _digests_or_none, _end_digest_period, _post
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram, _shown_length
from tests.support.harness import answers, caption_words
from tests.support.inprocess import StartBot, buttons

EN, KO = CATALOGUE["en"], CATALOGUE["ko"]
SUNSET = ("a sunset over the sea", "sun", "sky")


async def test_a_korean_channel_speaks_korean_to_readers_and_screen_readers(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer(captions=SUNSET)
    bot = await start_bot(composer, channel_lang="ko")
    post = await _post(bot, tg.user(42, "Ann"))  # an English-speaking poster
    caption = post["caption"]
    assert "사진: a sunset over the sea" in caption and "\n음악: bossa nova" in caption
    assert "Photo:" not in caption and "Music:" not in caption
    assert [b["text"] for b in buttons(post)] == [
        KO["button_remix"],
        KO["button_make_yours"],
        KO["button_report"],
    ]
    tg.send_text(tg.user(42, "Ann"), "/profile")  # the private chat stays in Ann's language
    await bot.until(lambda: answers(tg, 42)[-1].startswith("<b>Your posts</b>"), "profile")


async def test_both_languages_put_the_posters_first(tg: FakeTelegram, start_bot: StartBot) -> None:
    composer = FakeComposer(captions=SUNSET)
    bot = await start_bot(composer, channel_lang="both")
    minji, ann = tg.user(51, "민지", language="ko"), tg.user(42, "Ann")
    for person in (minji, ann):
        tg.send_text(person, "/anonymous")  # names shown: the by-line in both languages
    await bot.until(lambda: answers(tg, 51) and answers(tg, 42), "names shown")

    korean = (await _post(bot, minji))["caption"]
    assert korean.index("사진: a sunset") < korean.index("Photo: a sunset")
    assert korean.index("음악: bossa") < korean.index("Music: bossa")
    assert caption_words(korean).endswith("만든 사람: 민지\nby 민지")
    headline = f"<b>{composer.description}</b>\nbossa nova · serene"
    assert korean.startswith(headline + "\n\n사진:")  # the same words once
    english_post = await _post(bot, ann)
    english = english_post["caption"]
    assert english.index("Photo: a sunset") < english.index("사진: a sunset")
    assert caption_words(english).endswith("by Ann\n만든 사람: Ann")
    assert [b["text"] for b in buttons(english_post)] == [
        f"{EN['button_remix']} / {KO['button_remix']}",
        f"{EN['button_make_yours']} / {KO['button_make_yours']}",
        EN["button_report"],
    ]


async def test_both_languages_still_fit_a_caption(tg: FakeTelegram, start_bot: StartBot) -> None:
    composer = FakeComposer(description="é" * 300, captions=("s" * 400, "b", "c"))
    bot = await start_bot(composer, channel_lang="both")
    caption = (await _post(bot, tg.user(42, "Ann")))["caption"]
    assert _shown_length("HTML", caption) <= 1024  # as Telegram counts
    assert "Photo: " in caption and "사진: " in caption  # halved, not dropped
    assert [m for m in tg.chat_messages(CHANNEL_ID) if "video" in m]


async def test_the_digest_in_both_languages_is_english_then_korean(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer, digest_every_h=24, channel_lang="both")
    await _post(bot, tg.user(42, "Ann"))
    (channel_message,) = [m["message_id"] for m in tg.chat_messages(CHANNEL_ID)]
    tg.react(channel_message, {"❤": 5})
    await bot.until(lambda: bot.db("SELECT likes FROM posts") == [(5,)], "likes stored")
    await composer.alive_asked(2)  # housekeeping has started the period
    await _end_digest_period(bot)
    (digest,) = await bot.until(_digests_or_none(tg), "the digest")
    english, korean = digest.split("\n\n")
    assert english.startswith("<b>This week's most liked tracks on IMMU</b>\n1. ")
    assert english.endswith("5 likes")
    assert korean.startswith("<b>이번 주 IMMU 인기곡</b>\n1. ") and korean.endswith("좋아요 5")
