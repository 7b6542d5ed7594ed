"""Sharing tracks into any chat (inline mode), and the ways into the Mini App: the menu
button, /app, and the link under each channel post."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from telegram import Bot, InlineQueryResultCachedAudio, InlineQueryResultCachedVideo
from telegram.error import BadRequest

from bot import sharing
from bot.telegram.texts import CATALOGUE
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import CHANNEL_ID, INLINE_ANSWER_S, QUERY_TOO_OLD, FakeTelegram
from tests.support.harness import answers
from tests.support.inprocess import RunningBot, StartBot, buttons, job_of

EN, KO = CATALOGUE["en"], CATALOGUE["ko"]
ADMIN = 7
MAKE = "https://t.me/immu_test_bot?start=make"
WEBAPP = "https://immu.example/app/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pages() -> dict[str, Any]:
    """The Mini App's settings; its own server on a free port (tests run side by side)."""
    return {"webapp_url": WEBAPP, "webapp_port": _free_port()}


async def _post(bot: RunningBot, user: dict[str, Any], track: int = 0) -> int:
    """Deliver a photo and pick ``track``: the post's id, once it is in the channel."""
    result = await bot.deliver(user)
    job = job_of(result)
    bot.tg.tap(user, result, f"pick:{job}:{track}")
    sql = "SELECT id FROM posts WHERE job_id = ? AND status = 'posted'"
    ((post_id,),) = await bot.until(lambda: bot.db(sql, job), f"job {job} posted")
    key = (user["id"], result["message_id"])  # its keyboard becomes the post's link
    await bot.until(lambda: "pick:" not in str(bot.tg.messages[key]), "the link")
    return int(post_id)


async def _inline(
    bot: RunningBot, user: dict[str, Any], query: str = "", offset: str = ""
) -> dict[str, Any]:
    """The person types the bot's name (and ``query``) in a chat: the answer Telegram took."""
    query_id = bot.tg.send_inline_query(user, query, offset)
    answer: dict[str, Any] = await bot.until(
        lambda: bot.tg.inline_answers.get(query_id), f"the answer to {query!r}"
    )
    return answer


def _ids(answer: dict[str, Any]) -> list[int]:
    return [int(result["id"]) for result in answer["results"]]


def _channel_post(tg: FakeTelegram, post_id: int) -> dict[str, Any]:
    (post,) = [m for m in tg.chat_messages(CHANNEL_ID) if f"IMMU #{post_id}<" in m["caption"]]
    return post


# --- inline sharing ---


async def test_my_posted_track_keeps_its_file_id_and_is_offered_inline_as_it(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(post_format="audio")
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")
    post_id = await _post(bot, ann)
    file_id = _channel_post(tg, post_id)["audio"]["file_id"]  # what Telegram gave back
    assert bot.db("SELECT file_id, file_kind FROM posts") == [(file_id, "audio")]

    answer = await _inline(bot, ann)
    (result,) = answer["results"]
    assert (result["type"], result["id"], result["audio_file_id"]) == ("audio", "1", file_id)
    assert [(b["text"], b["url"]) for b in buttons(result)] == [("Make your own", MAKE)]
    caption = result["caption"]
    assert caption.startswith("<b>") and "bossa nova · serene" in caption
    assert f"IMMU #{post_id}</a>" in caption and "Photo: " not in caption  # kept short
    assert result["parse_mode"] == "HTML"
    # each person's own answer, and not for long: a deleted track goes at once
    assert answer["is_personal"] is True and 0 < answer["cache_time"] <= 10

    nothing = await _inline(bot, bob)  # no tracks of his own: a way to make one
    assert nothing["results"] == []
    assert nothing["button"] == {"text": EN["inline_empty"], "start_parameter": "make"}


async def test_a_word_finds_the_feeds_tracks_by_genre_or_mood_in_any_case(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    composer = FakeComposer(genres=("Bossa Nova", "ambient", "jazz"), mood="serene")
    bot = await start_bot(composer)  # posts are videos
    ann, bob = tg.user(42, "Ann"), tg.user(43, "Bob")
    cy = tg.user(50, "Cy", language="ko")  # posted nothing: searches the feed
    bossa = await _post(bot, ann)
    composer.genres, composer.mood = ("Jazz", "ambient", "lofi"), "Melancholy"
    jazz = await _post(bot, bob)

    assert _ids(await _inline(bot, cy, "bossa")) == [bossa]  # a genre
    assert _ids(await _inline(bot, cy, "  SERENE ")) == [bossa]  # a mood, any case
    assert _ids(await _inline(bot, cy, "melan")) == [jazz]
    assert _ids(await _inline(bot, cy, "a")) == [jazz, bossa]  # newest first
    assert _ids(await _inline(bot, cy, "polka")) == []
    (video,) = (await _inline(bot, cy, "jazz"))["results"]
    assert video["type"] == "video" and video["title"] == "Jazz"  # a video needs its title
    assert video["video_file_id"] == _channel_post(tg, jazz)["video"]["file_id"]
    assert [(b["text"], b["url"]) for b in buttons(video)] == [(KO["button_make_yours"], MAKE)]


async def test_deleted_forgotten_hidden_and_banned_peoples_tracks_never_appear(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(post_format="audio", admin_ids=[ADMIN], reports_to_hide=1)
    ann, bob, dan, eve = (
        tg.user(42 + i, name) for i, name in enumerate(("Ann", "Bob", "Dan", "Eve"))
    )
    cy, admin = tg.user(50, "Cy"), tg.user(ADMIN, "Op")
    deleted, kept = await _post(bot, ann), await _post(bot, ann)
    forgotten, banned, hidden = await _post(bot, bob), await _post(bot, dan), await _post(bot, eve)
    assert _ids(await _inline(bot, cy, "bossa")) == [hidden, banned, forgotten, kept, deleted]

    tg.tap(ann, tg.chat_messages(42)[-1], f"del:{deleted}")
    confirm = tg.send_text(bob, "/forget")
    tg.tap(bob, confirm, "forget:43")
    tg.send_text(admin, "/ban 44")  # no --purge: Dan's post stays in the channel
    tg.tap(cy, _channel_post(tg, hidden), f"report:{hidden}")  # one report takes it down
    gone = "SELECT COUNT(*) FROM posts WHERE id IN (?, ?)"
    await bot.until(lambda: bot.db(gone, deleted, forgotten) == [(0,)], "deleted, forgotten")
    await bot.until(lambda: bot.db("SELECT user_id FROM bans") == [(44,)], "Dan banned")
    await bot.until(lambda: bot.db("SELECT status FROM posts WHERE id = ?", hidden) == [("hidden",)], "hidden")  # fmt: skip
    assert bot.db("SELECT status FROM posts WHERE id = ?", banned) == [("posted",)]

    assert _ids(await _inline(bot, cy, "bossa")) == [kept]
    assert _ids(await _inline(bot, ann)) == [kept]
    assert _ids(await _inline(bot, bob)) == []
    for query in ("", "bossa"):  # a banned person gets nothing, not even a way in
        refused = await _inline(bot, dan, query)
        assert refused["results"] == [] and refused.get("button") is None


async def test_results_come_in_pages_from_the_offset_telegram_hands_back(
    tg: FakeTelegram, start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sharing, "RESULTS", 2)  # a page of 50 in real use
    assert sharing.RESULTS <= 50
    bot = await start_bot(post_format="audio")
    ann = tg.user(42, "Ann")
    first, second, third = [await _post(bot, ann) for _ in range(3)]
    page = await _inline(bot, ann)
    assert _ids(page) == [third, second] and page["next_offset"] == str(second)
    last = await _inline(bot, ann, offset=page["next_offset"])
    assert _ids(last) == [first] and not last.get("next_offset")
    forged = await _inline(bot, ann, offset="1 OR 1=1")  # offsets come back from clients
    assert _ids(forged) == [third, second]


async def test_more_queries_than_the_rate_in_a_minute_get_nothing_briefly(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(post_format="audio", inline_rate=3)
    ann, cy = tg.user(42, "Ann"), tg.user(50, "Cy")
    post_id = await _post(bot, ann)
    for query in ("b", "bo", "bos"):  # a query a keystroke
        assert _ids(await _inline(bot, ann, query)) == [post_id]
    refused = await _inline(bot, ann, "boss")
    assert refused["results"] == [] and refused.get("button") is None
    assert refused["cache_time"] == sharing.LIMITED_CACHE_S < sharing.CACHE_S
    assert refused["is_personal"] is True
    assert _ids(await _inline(bot, cy, "bossa")) == [post_id]  # someone else is not held back


async def test_an_answer_after_telegram_gave_up_is_refused_and_only_logged(
    tg: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    bot = await start_bot()
    query_id = tg.send_inline_query(tg.user(42, "Ann"), age_s=INLINE_ANSWER_S + 1)
    await bot.until(lambda: "inline answer too late" in caplog.text, "the line")
    assert tg.calls_to("answerInlineQuery") and query_id not in tg.inline_answers
    # and no traceback: the fixture checks


async def test_the_fake_bot_api_takes_one_valid_answer_per_query(tg: FakeTelegram) -> None:
    async with Bot(tg.token, base_url=f"{tg.url}/bot") as bot:
        audio = tg.add_file(b"ID3", "audio/a.mp3")
        query_id = tg.send_inline_query(tg.user(42, "Ann"))
        untitled = InlineQueryResultCachedVideo("1", audio, "")
        with pytest.raises(BadRequest, match=r'(?i)can\'t find field "title"'):
            await bot.answer_inline_query(query_id, [untitled])
        not_a_video = InlineQueryResultCachedVideo("1", audio, "Jazz")
        with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
            await bot.answer_inline_query(query_id, [not_a_video])
        assert await bot.answer_inline_query(query_id, [InlineQueryResultCachedAudio("1", audio)])
        for again in (query_id, "999"):  # answered already; never sent
            with pytest.raises(
                BadRequest, match="(?i)" + QUERY_TOO_OLD.removeprefix("Bad Request: ")
            ):
                await bot.answer_inline_query(again, [])


# --- the Mini App's ways in ---


def _commands(tg: FakeTelegram) -> set[str]:
    calls = tg.calls_to("setMyCommands")
    return {command["command"] for call in calls for command in call.params["commands"]}


async def _app(bot: RunningBot, user: dict[str, Any]) -> dict[str, Any]:
    """The person sends /app: the bot's answer."""
    bot.tg.send_text(user, "/app")
    await bot.until(lambda: answers(bot.tg, user["id"]), "the answer")
    (message,) = bot.tg.chat_messages(user["id"])[1:]
    return message


async def test_the_menu_button_and_app_open_the_pages(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(**_pages())
    assert tg.menu_buttons[None] == {"type": "web_app", "text": "IMMU", "web_app": {"url": WEBAPP}}
    assert "app" in _commands(tg)
    for user, words in ((tg.user(42, "Ann"), EN), (tg.user(44, "Kim", language="ko"), KO)):
        message = await _app(bot, user)
        assert message["text"] == words["app_open"]
        assert buttons(message) == [{"text": words["button_app"], "web_app": {"url": WEBAPP}}]


async def test_without_pages_no_menu_button_and_app_says_so(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    assert not tg.calls_to("setChatMenuButton") and "app" not in _commands(tg)
    tg.send_text(tg.user(42, "Ann"), "/app")
    await bot.until(lambda: answers(tg, 42) == [EN["app_off"]], "told")
    await bot.stop()

    # an earlier start with the pages set the button: it goes back to Telegram's default
    tg.menu_buttons[None] = {"type": "web_app", "text": "IMMU", "web_app": {"url": WEBAPP}}
    await start_bot()
    assert tg.menu_buttons[None] == {"type": "default"}


async def test_a_channel_post_links_its_page_in_the_app_only_when_there_is_one(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(**_pages(), webapp_name="immu_app", channel_lang="both")
    ann = tg.user(42, "Ann")
    post_id = await _post(bot, ann)
    link = f"https://t.me/immu_test_bot/immu_app?startapp=post-{post_id}"
    assert {"text": "Open in app / 앱에서 열기", "url": link} in buttons(_channel_post(tg, post_id))
    await bot.stop()

    bot = await start_bot()
    later = await _post(bot, ann)
    assert "startapp" not in str(buttons(_channel_post(tg, later)))
