"""The bot's HTTP to the Bot API (bot/transport.py): what PTB expects of a ``BaseRequest``.

Everything else in tests/bot runs through it against the fake Bot API; these are the
failures PTB must be told apart, since the bot decides from them whether to try again.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter  # what PTB builds per call

from bot.transport import AiohttpRequest, proxy_from_env


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, object]], asyncio.Event]]:
    seen: list[dict[str, object]] = []
    release = asyncio.Event()

    async def echo(request: web.Request) -> web.Response:
        form = await request.post()
        seen.append(
            {
                k: (v.filename, v.file.read()) if isinstance(v, web.FileField) else v
                for k, v in form.items()
            }
        )
        return web.json_response({"ok": True, "result": True})

    async def stuck(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/stuck", stuck)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen, release
    release.set()
    await runner.cleanup()


async def test_parameters_and_files_arrive_as_the_bot_api_reads_them(server) -> None:
    url, seen, _ = server
    async with AiohttpRequest() as request:
        plain = RequestData(
            [RequestParameter.from_input("chat_id", 42), RequestParameter.from_input("text", "hé")]
        )
        assert await request.post(f"{url}/echo", plain) is True
        upload = RequestData(
            [
                RequestParameter.from_input("chat_id", 42),
                RequestParameter.from_input("audio", InputFile(b"ID3 tune", filename="a.mp3")),
            ]
        )
        assert await request.post(f"{url}/echo", upload) is True
    assert seen == [
        {"chat_id": "42", "text": "hé"},
        {"chat_id": "42", "audio": ("a.mp3", b"ID3 tune")},
    ]


async def test_no_answer_in_time_is_timed_out(server) -> None:
    """The call may have been carried out: the bot must not simply send it again."""
    url, _, _ = server
    async with AiohttpRequest(read_timeout=0.2) as request:
        with pytest.raises(TimedOut) as caught:
            await request.post(f"{url}/stuck")
    assert "not* sent" not in str(caught.value)


async def test_a_full_pool_is_a_timeout_that_says_nothing_was_sent(server) -> None:
    url, _, release = server
    async with AiohttpRequest(1, read_timeout=5, connect_timeout=0.1, pool_timeout=0.2) as request:
        first = asyncio.create_task(request.post(f"{url}/stuck"))
        await asyncio.sleep(0.1)
        with pytest.raises(TimedOut, match=r"not\* sent"):
            await request.post(f"{url}/echo")
        release.set()
        assert await first is True


async def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AiohttpRequest() as request:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"http://127.0.0.1:{port}/echo")
    assert not isinstance(caught.value, TimedOut)


async def test_a_proxy_from_the_environment_carries_the_calls(server, monkeypatch) -> None:
    """HTTPS_PROXY and friends, as PTB's httpx honoured them; NO_PROXY still wins."""
    url, seen, _ = server
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "local.example")
    assert proxy_from_env("http://api.telegram.invalid/bot") == url
    assert proxy_from_env("http://local.example/bot") is None
    async with AiohttpRequest(proxy=proxy_from_env("http://api.telegram.invalid/bot")) as request:
        # the host does not exist: only the proxy (our server) can answer
        assert await request.post("http://api.telegram.invalid/echo") is True
    assert seen == [{}]
