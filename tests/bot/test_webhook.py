"""Webhook mode (``IMMU_WEBHOOK_URL``): Telegram POSTs updates with a secret header; the
whole story works as with polling, and a POST without the secret is refused unread."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

import aiohttp

from tests.bot.conftest import StartBot
from tests.bot.harness import answers
from tests.bot.inprocess import RunningBot, job_of
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram

SECRET = "a-long_random-Secret-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _start(start_bot: StartBot, **settings: Any) -> tuple[RunningBot, str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"  # what a reverse proxy would forward
    bot = await start_bot(
        webhook_url=url, webhook_port=port, webhook_secret=SECRET, post_format="audio", **settings
    )
    return bot, url


async def test_the_whole_story_runs_on_a_webhook(tg: FakeTelegram, start_bot: StartBot) -> None:
    bot, url = await _start(start_bot)
    (hook,) = tg.calls_to("setWebhook")
    assert hook.params["url"] == url and hook.params["secret_token"] == SECRET
    assert "message_reaction_count" in hook.params["allowed_updates"]  # else no likes ever
    assert tg.calls_to("getUpdates") == []  # no polling beside the webhook
    assert _get_updates_status(tg) == 409  # as Telegram: one or the other

    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)  # photo -> three audios and the choice
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    await bot.until(lambda: tg.calls_to("sendAudio", chat_id="@immu_feed"), "the channel post")
    (post,) = [m for m in tg.chat_messages(CHANNEL_ID) if "audio" in m]
    tg.react(post["message_id"], {"👍": 2, "👎": 1})
    await bot.until(lambda: bot.db("SELECT likes FROM posts") == [(2,)], "a like counted")
    assert len(tg.calls_to("sendAudio", chat_id="@immu_feed")) == 1  # one post


async def test_a_forged_webhook_call_is_refused_and_never_handled(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot, url = await _start(start_bot)
    mallory = tg.user(66, "Mallory")
    forged = {
        "update_id": 10_000,
        "message": {
            "message_id": 1, "date": 0, "from": mallory, "text": "/start",
            "chat": {"id": 66, "type": "private", "first_name": "Mallory"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }  # fmt: skip
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guessed"}):
            async with session.post(url, json=forged, headers=headers) as answer:
                assert answer.status == 403
    tg.send_text(mallory, "/help")  # the same person through Telegram: answered
    await bot.until(lambda: answers(tg, 66), "the genuine update answered")
    assert len(answers(tg, 66)) == 1  # the forged /start never was


def _get_updates_status(tg: FakeTelegram) -> int:
    request = urllib.request.Request(
        f"{tg.url}/bot{tg.token}/getUpdates",
        data=json.dumps({"timeout": 0}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
