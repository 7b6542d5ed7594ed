"""The channel: what a post says and carries, remixes from it, the digest, likes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.telegram.texts import CATALOGUE
from pipeline import Stage
from storage import Store
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram, _shown_length
from tests.support.harness import answers, caption_words, keyboard_message, media_posts
from tests.support.inprocess import CHANNEL, PHOTO, RunningBot, StartBot, buttons, job_of

EN, KO = CATALOGUE["en"], CATALOGUE["ko"]


async def _post(bot: RunningBot, user: dict[str, Any], track: int = 0) -> dict[str, Any]:
    """Deliver a photo, pick ``track``: the channel post's parameters as the bot sent them."""
    tg = bot.tg
    before = len(tg.calls_to("sendVideo")) + len(tg.calls_to("sendAudio", chat_id=CHANNEL))
    shown = len(media_posts(tg))
    result = await bot.deliver(user)
    tg.tap(user, result, f"pick:{job_of(result)}:{track}")
    posts = await bot.until(
        lambda: (tg.calls_to("sendVideo") + tg.calls_to("sendAudio", chat_id=CHANNEL))[before:],
        "the channel post",
    )
    # a call is recorded as it arrives, its message once the upload is read: wait for both
    await bot.until(lambda: len(media_posts(tg)) > shown, "the post in the channel")
    return dict(posts[0].params) | {"files": posts[0].files}


async def test_a_post_carries_remix_and_make_your_own_links_and_plain_descriptions(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer(captions=("a sunset over the sea", "sun", "sky"))
    bot = await start_bot(composer)
    post = await _post(bot, tg.user(42, "Ann"), track=1)
    assert [(b["text"], b.get("url") or b["callback_data"]) for b in buttons(post)] == [
        ("Remix this track", "https://t.me/immu_test_bot?start=remix-1"),
        ("Make your own", "https://t.me/immu_test_bot?start=make"),
        ("Report", "report:1"),
    ]
    caption = post["caption"]
    assert caption.startswith(f"<b>{composer.description}</b>\nambient · serene")
    assert "Photo: a sunset over the sea" in caption  # for screen readers, by default
    assert f"Music: ambient, serene mood, {composer.description}" in caption
    assert "Ann" not in caption  # anonymous by default
    assert post["parse_mode"] == "HTML" and post["files"]["video"][4:8] == b"ftyp"


async def test_describe_off_keeps_posts_short_and_a_name_shows_only_on_request(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(post_format="audio")
    ann = tg.user(42, "Ann")
    tg.send_text(ann, "/describe")
    await bot.until(lambda: EN["describe_off"] in answers(tg, 42), "describe off")
    tg.send_text(ann, "/anonymous")
    await bot.until(lambda: EN["anonymous_off"] in answers(tg, 42), "name shown")
    post = await _post(bot, ann)
    assert "Photo: " not in post["caption"] and "Music: " not in post["caption"]
    assert caption_words(post["caption"]).endswith("\n\nby Ann")
    # IMMU_POST_FORMAT=audio: the MP3 with its tags and the cover as the thumbnail
    assert post["files"]["audio"][:3] == b"ID3" and post["files"]["thumbnail"][:2] == b"\xff\xd8"
    assert post["title"] == "bossa nova" and post["performer"] == "IMMU"


async def test_markup_and_huge_text_from_models_and_names_post_fine(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    # what a language model may answer within the brief's bounds (300 characters), and a
    # name Telegram allows; the fake Bot API refuses HTML it cannot parse, as Telegram does
    composer = FakeComposer(
        description="<script>alert('x')</script> & <b>bold</b> " + "é" * 200,
        genres=("<i>jazz</i>", "rock & roll", "lo-fi <3"),
        mood="happy > sad",
        captions=("<b>a sunset</b> & " + "s" * 400, "b", "c"),
    )
    bot = await start_bot(composer)
    eve = tg.user(45, "<b>Eve</b> & <a href='x'>" + "E" * 5000)
    tg.send_text(eve, "/anonymous")
    await bot.until(lambda: answers(tg, 45), "name shown")
    post = await _post(bot, eve)
    (result,) = [
        c.params["text"] for c in tg.calls_to("sendMessage", chat_id=45) if "pick:" in str(c.params)
    ]
    assert "&lt;script&gt;" in result and "Mood: happy &gt; sad" in result
    caption = post["caption"]
    assert _shown_length("HTML", caption) <= 1024  # as Telegram counts: after entities
    assert "&lt;i&gt;jazz&lt;/i&gt;" in caption and "&lt;b&gt;Eve&lt;/b&gt; &amp;" in caption
    assert [m for m in tg.chat_messages(CHANNEL_ID) if "video" in m]


async def test_a_post_records_the_name_and_photo_words_its_caption_carried(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    """The pages show what the channel post showed, not what the person's settings said:
    a caption too long drops the words about the photo, a name that is only a link is
    no name."""
    composer = FakeComposer(
        description="é" * 300, genres=("g" * 60,) * 3, mood="m" * 60, captions=("s" * 400,) * 3
    )  # in both languages, the photo's and the music's words do not fit beside the rest
    bot = await start_bot(composer, channel_lang="both")
    ann, bob = tg.user(42, "Ann"), tg.user(43, "t.me/bobspam @bob")
    tg.send_text(ann, "/anonymous")
    tg.send_text(bob, "/anonymous")
    await bot.until(lambda: EN["anonymous_off"] in answers(tg, 42), "Ann's name shown")
    await bot.until(lambda: EN["anonymous_off"] in answers(tg, 43), "Bob's name shown")
    long = await _post(bot, ann)
    assert "Photo: " not in long["caption"] and "by Ann" in caption_words(long["caption"])
    assert bot.db("SELECT named, described FROM posts WHERE user_id = 42") == [(1, 0)]

    composer.description, composer.genres = "calm", ("jazz",) * 3
    composer.mood, composer.captions = "serene", ("a sea",) * 3
    linked = await _post(bot, bob)
    assert "Photo: a sea" in linked["caption"] and "by " not in linked["caption"]
    assert bot.db("SELECT named, described FROM posts WHERE user_id = 43") == [(0, 1)]


async def test_a_description_that_escapes_past_the_caption_limit_still_posts(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer(description="<&>" * 100)  # 300 characters, 1300 once escaped
    bot = await start_bot(composer)
    post = await _post(bot, tg.user(42, "Ann"))
    assert _shown_length("HTML", post["caption"]) <= 1024  # what Telegram measures
    assert post["caption"].startswith("<b>&lt;&amp;&gt;") and "</b>" in post["caption"]
    assert [m for m in tg.chat_messages(CHANNEL_ID) if "video" in m]
    assert not tg.calls_to("sendVideo", chat_id=CHANNEL_ID)[1:]  # posted once, no retries


async def test_links_and_mentions_written_by_models_never_reach_the_channel(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    # words written in a photo may steer the models; what they write goes public
    composer = FakeComposer(
        description="warm guitar; visit evil.example/x and t.me/spam, ask @scammer",
        genres=("bossa nova tg://resolve?domain=spam", "ambient", "jazz"),
        mood="serene https://evil.example",
        captions=("a sign saying telegram.me/joinchat/abc and www.evil.co/path", "b", "c"),
    )
    bot = await start_bot(composer, post_format="audio")
    ann = tg.user(42, "Ann t.me/annspam")  # a name shown on request is no way in either
    tg.send_text(ann, "/anonymous")
    await bot.until(lambda: EN["anonymous_off"] in answers(tg, 42), "name shown")
    await _post(bot, ann)
    (post,) = await bot.until(lambda: tg.chat_messages(CHANNEL_ID), "the channel post")
    caption = caption_words(post["caption"])  # the model's and the person's words
    for link in ("evil", "t.me", "telegram.me", "spam", "scammer", "http", "tg:", "@", "www"):
        assert link not in caption and link not in post["audio"]["title"]
    assert "<a" not in caption  # no link, no mention: only the post's own signature links
    (signature,) = post["caption_entities"]
    assert signature["url"] == "https://t.me/immu_test_bot?start=remix-1"
    assert caption.startswith("<b>warm guitar; visit and ask</b>\nbossa nova · serene")
    assert "Photo: a sign saying and" in caption and caption.endswith("by Ann")
    assert post["audio"]["title"] == "bossa nova"


async def test_a_genre_with_an_ampersand_reads_plainly_on_its_button(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer(genres=("rock & roll", "jazz", "lo-fi <3"))
    bot = await start_bot(composer)
    result = await bot.deliver(tg.user(42, "Ann"))
    labels = [b["text"] for row in result["reply_markup"]["inline_keyboard"] for b in row]
    assert "Post track 1: rock & roll" in labels and "Post track 3: lo-fi <3" in labels
    titles = [c.params["caption"] for c in tg.calls_to("sendAudio", chat_id=42)]
    assert "Track 1 of 3: rock & roll" in titles


async def test_a_reader_remixes_a_post_into_three_variations_of_its_track(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann, rex = tg.user(42, "Ann"), tg.user(60, "Rex", language="ko")
    await _post(bot, ann, track=1)

    tg.send_text(rex, "/start remix-1")  # the Remix link under the post
    remix = await bot.result_for(60)
    request = composer.requests[-1]
    original = bot.data_dir / "jobs" / "1" / "track-2.png"
    assert request.options.remix_png == original.read_bytes()  # the chosen track's image
    ((genre, prompt),) = bot.db("SELECT genre, prompt FROM tracks WHERE job_id = 1 AND idx = 1")
    assert (request.options.remix_genre, request.options.remix_prompt) == (genre, prompt)
    assert request.photo == composer.requests[0].photo  # of Ann's photo
    assert bot.db("SELECT genre, prompt FROM tracks WHERE job_id = 2") == [(genre, prompt)] * 3
    assert bot.db("SELECT remix_post_id FROM jobs WHERE id = 2") == [(1,)]
    assert len(tg.calls_to("sendAudio", chat_id=60)) == 3 and job_of(remix) == 2

    # a remix of a post that is gone is refused clearly, in the reader's language
    tg.send_text(rex, "/start remix-999")
    await bot.until(lambda: KO["remix_gone"] in answers(tg, 60), "gone")


async def test_a_remix_of_a_post_deleted_while_it_waited_ends_clearly(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer)
    ann, rex = tg.user(42, "Ann"), tg.user(60, "Rex")
    await _post(bot, ann)
    gate = composer.hold(Stage.CAPTION)
    tg.send_photo(tg.user(43, "Bob"), PHOTO)  # Bob's job holds the lane
    await gate.reached()
    tg.send_text(rex, "/start remix-1")
    await bot.until(lambda: answers(tg, 60), "Rex queued")
    bot.tg.send_text(ann, "/delete")
    menu = await bot.until(lambda: keyboard_message(tg, 42, "del"), "delete menu")
    tg.tap(ann, menu, buttons(menu)[0]["callback_data"])
    await bot.until(lambda: tg.calls_to("deleteMessage"), "deleted")
    gate.release()
    await bot.until(lambda: EN["remix_gone"] in _status_texts(tg, 60), "the remix ends")
    assert bot.db("SELECT status FROM jobs WHERE user_id = 60") == [("cancelled",)]
    assert tg.calls_to("sendAudio", chat_id=60) == []


def _status_texts(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [str(c.params["text"]) for c in tg.calls_to("editMessageText", chat_id=chat_id)]


async def test_likes_are_reaction_counts_the_bot_asks_telegram_for(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    # Telegram sends reaction counts only to a bot that lists them: without, no likes ever
    assert "message_reaction_count" in tg.calls_to("getUpdates")[0].params["allowed_updates"]
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")
    await _post(bot, ann)
    (channel_message,) = [m["message_id"] for m in tg.chat_messages(CHANNEL_ID)]
    tg.react(channel_message, {"👍": 3, "🔥": 1})
    await bot.until(lambda: bot.db("SELECT likes FROM posts") == [(4,)], "likes stored")

    tg.send_text(ann, "/profile")
    await bot.until(lambda: answers(tg, 42)[-1].startswith("<b>Your posts</b> (1)"), "profile")
    assert "4 likes in all" in answers(tg, 42)[-1]
    assert f"https://t.me/immu_feed/{channel_message}" in answers(tg, 42)[-1]
    tg.send_text(bob, "/top")
    await bot.until(lambda: answers(tg, 43), "top")
    (top,) = answers(tg, 43)
    assert top.startswith("<b>Most liked this week</b>\n1. ") and "4 likes" in top


async def test_the_digest_lists_the_most_liked_tracks_once_a_period(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer()
    bot = await start_bot(composer, digest_every_h=24)
    await _post(bot, tg.user(42, "Ann"))
    (channel_message,) = [m["message_id"] for m in tg.chat_messages(CHANNEL_ID)]
    tg.react(channel_message, {"❤": 5})
    await bot.until(lambda: bot.db("SELECT likes FROM posts") == [(5,)], "likes stored")
    await composer.alive_asked(2)  # housekeeping has looked: the period is not over
    assert _digests(tg) == []

    await _end_digest_period(bot)  # the last digest was a day and a minute ago
    (digest,) = await bot.until(_digests_or_none(tg), "the digest")
    assert digest.startswith("<b>This week's most liked tracks on IMMU</b>\n1. ")
    assert f"https://t.me/immu_feed/{channel_message}" in digest and "5 likes" in digest
    await composer.alive_asked(2)  # two more rounds of housekeeping: no second digest
    assert len(_digests(tg)) == 1


def _digests(tg: FakeTelegram) -> list[str]:
    return [
        str(c.params["text"])
        for c in tg.calls_to("sendMessage", chat_id=CHANNEL)
        if "most liked" in str(c.params["text"])
    ]


async def _end_digest_period(bot: RunningBot) -> None:
    """As if the last digest went out a day (``digest_every_h=24``) and a minute ago."""
    store = await Store.open(bot.data_dir / "immu.db")
    try:
        past = datetime.now(UTC) - timedelta(hours=24, minutes=1)
        await store.set_meta("last_digest", past.isoformat())
    finally:
        await store.close()


def _digests_or_none(tg: FakeTelegram):  # type: ignore[no-untyped-def]
    return lambda: _digests(tg) or None
