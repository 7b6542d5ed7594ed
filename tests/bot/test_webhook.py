"""Webhook mode (``IMMU_WEBHOOK_URL``): Telegram POSTs updates with a secret header; the
whole story works as with polling, and a POST without the secret is refused unread."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import StartupError, serve
from bot.web import MAX_UPDATE_BYTES, SECRET_HEADER
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.harness import answers
from tests.support.inprocess import RunningBot, StartBot, job_of, settings_for

SECRET = "a-long_random-Secret-0123456789-xyz"  # 35 of Telegram's alphabet
PUBLIC_URL = "https://bot.example/telegram/hook"  # the reverse proxy's, as Telegram knows it
PATH = "/telegram/hook"
ADMIN = 1
MiB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _start(tg: FakeTelegram, start_bot: StartBot, **settings: Any) -> tuple[RunningBot, int]:
    """The bot on a webhook behind an HTTPS reverse proxy; returns it and its own port."""
    port = _free_port()
    tg.reverse_proxy[PUBLIC_URL] = f"http://127.0.0.1:{port}{PATH}"
    bot = await start_bot(
        webhook_url=PUBLIC_URL,
        webhook_port=port,
        webhook_secret=SECRET,
        post_format="audio",
        **settings,
    )
    return bot, port


async def test_the_whole_story_runs_on_a_webhook(tg: FakeTelegram, start_bot: StartBot) -> None:
    bot, port = await _start(tg, start_bot)
    (hook,) = tg.calls_to("setWebhook")
    assert hook.params["url"] == PUBLIC_URL and hook.params["secret_token"] == SECRET
    assert "message_reaction_count" in hook.params["allowed_updates"]  # else no likes ever
    assert tg.calls_to("getUpdates") == []  # no polling beside the webhook
    assert _get_updates_status(tg) == 409  # as Telegram: one or the other

    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)  # photo -> three audios and the choice
    assert len(tg.calls_to("sendAudio", chat_id=42)) == 3
    tg.tap(ann, result, f"pick:{job_of(result)}:0")
    # the message itself, not the call: the fake records a call before it carries it out
    await bot.until(lambda: _channel_audios(tg), "the channel post")
    (post,) = _channel_audios(tg)
    tg.react(post["message_id"], {"👍": 2, "👎": 1})
    await bot.until(lambda: bot.db("SELECT likes FROM posts") == [(2,)], "a like counted")
    assert len(tg.calls_to("sendAudio", chat_id="@immu_feed")) == 1  # one post

    await bot.stop()
    assert not _listening(port)  # nothing left bound to the webhook's port


async def test_a_forged_webhook_call_is_refused_and_never_handled(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot, port = await _start(tg, start_bot, admin_ids=[ADMIN])
    admin = tg.user(ADMIN, "Op")
    forged = {"update_id": 10_000, "message": _text(admin, "/ban 42 --purge")}
    last = "y" if SECRET[-1] != "y" else "z"
    guesses = ["", "guessed", SECRET[:-1], SECRET[:-1] + last, SECRET + "x", SECRET.upper()]
    async with aiohttp.ClientSession() as session:
        async with session.post(_local(port), json=forged) as answer:
            assert answer.status == 403  # no header at all
        for guess in guesses:
            headers = {SECRET_HEADER: guess}
            async with session.post(_local(port), json=forged, headers=headers) as answer:
                assert answer.status == 403, guess
    tg.send_text(admin, "/help")  # the same person through Telegram: answered
    await bot.until(lambda: answers(tg, ADMIN), "the genuine update answered")
    assert len(answers(tg, ADMIN)) == 1  # the forged /ban never was
    assert bot.db("SELECT COUNT(*) FROM bans") == [(0,)]


SHORT = ("IMMU_WEBHOOK_SECRET must be 32-256 characters", "secrets.token_urlsafe(32)")


@pytest.mark.parametrize(
    ("change", "told"),
    [
        ({"webhook_secret": "Q"}, SHORT),
        ({"webhook_secret": SECRET[:31]}, SHORT),
        ({"webhook_url": "http://bot.example/telegram/hook"}, ("must be an https:// URL",)),
    ],
)
async def test_a_guessable_secret_or_a_plain_http_url_is_refused_before_anything_starts(
    tg: FakeTelegram, tmp_path: Path, change: dict[str, Any], told: tuple[str, ...]
) -> None:
    composer = FakeComposer()
    values = {"webhook_url": PUBLIC_URL, "webhook_secret": SECRET, **change}
    settings = settings_for(tg, tmp_path / "data", webhook_port=_free_port(), **values)
    stop = asyncio.Event()
    stop.set()  # were it accepted, the bot would start and stop at once
    with pytest.raises(StartupError) as refused:
        await serve(settings, stop, composer)
    line = str(refused.value)
    assert "\n" not in line and all(part in line for part in told), line
    assert not composer.started  # no model loaded
    assert tg.calls == []  # nor anything asked of Telegram


@pytest.mark.parametrize(
    ("secret", "chunked", "status"),
    [(None, False, 403), (None, True, 403), (SECRET, False, 413), (SECRET, True, 413)],
    ids=["no-secret", "no-secret-chunked", "secret", "secret-chunked"],
)
async def test_a_huge_body_is_refused_before_it_is_read(
    tg: FakeTelegram, start_bot: StartBot, secret: str | None, chunked: bool, status: int
) -> None:
    bot, port = await _start(tg, start_bot)
    headers = {SECRET_HEADER: secret} if secret else {}
    size = 95 * MiB
    answered, sent = await _post_streaming(port, headers, size, chunked=chunked)
    assert answered == status
    # answered while most of the body was still to come: the bot never held it
    assert sent < size // 4
    ann = tg.user(42, "Ann")
    tg.send_text(ann, "/help")  # and Telegram's updates still come in
    await bot.until(lambda: answers(tg, 42), "the genuine update answered")


async def test_an_update_up_to_the_bound_is_handled_and_one_byte_more_is_413(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot, port = await _start(tg, start_bot)
    ann = tg.user(42, "Ann")
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        for update_id, size, status in ((50_000, MAX_UPDATE_BYTES + 1, 413),
                                        (50_001, MAX_UPDATE_BYTES, 200)):  # fmt: skip
            update = json.dumps({"update_id": update_id, "message": _text(ann, "/help")})
            body = update.encode().ljust(size)  # JSON may end in any amount of whitespace
            async with session.post(_local(port), data=body, headers=headers) as answer:
                assert answer.status == status
    await bot.until(lambda: answers(tg, 42), "the update within the bound answered")
    assert len(answers(tg, 42)) == 1  # the one over it never was


async def test_a_body_that_is_no_update_is_one_warning_and_the_webhook_goes_on(
    tg: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot, port = await _start(tg, start_bot)
    junk = [b"[]", b"{not json", b'{"update_id": 1, "message": 5}', b"{}", b"\xff\xfe"]
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    with caplog.at_level(logging.WARNING):
        async with aiohttp.ClientSession() as session:
            for body in junk:
                async with session.post(_local(port), data=body, headers=headers) as answer:
                    # with the secret it is Telegram's: any other status, and it would
                    # POST the same body again and again
                    assert answer.status == 200, body
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == len(junk), [r.getMessage() for r in lines]
    assert not [r for r in lines if r.exc_info] and bot.tracebacks == []
    ann = tg.user(42, "Ann")
    tg.send_text(ann, "/help")
    await bot.until(lambda: answers(tg, 42), "the genuine update answered")


async def test_the_listener_goes_when_start_up_fails_after_it_began(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    port = _free_port()
    tg.fail("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host")
    settings = settings_for(
        tg, tmp_path / "data", webhook_url=PUBLIC_URL, webhook_port=port, webhook_secret=SECRET
    )
    with pytest.raises(StartupError, match="refused a start-up request: Bad webhook"):
        await serve(settings, asyncio.Event(), FakeComposer())
    assert not _listening(port)


def _text(user: dict[str, Any], text: str) -> dict[str, Any]:
    """A private message as Telegram sends it, for POSTs made by hand."""
    command = {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    return {"message_id": 1, "date": 0, "from": user, "chat": chat, "text": text,
            "entities": [command]}  # fmt: skip


def _channel_audios(tg: FakeTelegram) -> list[dict[str, Any]]:
    return [m for m in tg.chat_messages(CHANNEL_ID) if "audio" in m]


def _local(port: int) -> str:
    """The bot's own address: what the proxy forwards to, and what an attacker may reach."""
    return f"http://127.0.0.1:{port}{PATH}"


async def _post_streaming(
    port: int, headers: dict[str, str], size: int, *, chunked: bool
) -> tuple[int, int]:
    """POSTs ``size`` bytes in 64 KiB pieces for as long as the server takes them and has
    not answered; returns its status and how many bytes were sent until then."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"POST {PATH} HTTP/1.1", "Host: bot.example", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    answer = asyncio.create_task(reader.readline())
    piece = b" " * 65536
    sent = 0
    try:
        while sent < size and not answer.done():
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            await writer.drain()
            await asyncio.sleep(0)  # the bot serves in this event loop too
            sent += len(piece)
        if chunked and not answer.done():
            writer.write(b"0\r\n\r\n")
    except ConnectionError:
        pass  # it hung up: it wants no more
    status_line = await answer
    writer.close()
    return int(status_line.split()[1]), sent


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
