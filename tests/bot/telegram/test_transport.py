"""The bot's HTTP to the Bot API (bot/telegram/transport.py): what PTB expects of a ``BaseRequest``.

Everything else in tests/bot runs through it against the fake Bot API; these are the
failures PTB must be told apart, since the bot decides from them whether to try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter  # what PTB builds per call

from bot.app import run_bot
from bot.telegram.transport import (
    AiohttpRequest,
    ConnectTimedOut,
    NotSent,
    PoolTimedOut,
    proxy_from_env,
)
from storage import backup
from tests.fakes.loopback import LoopbackServer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.inprocess import BOT_LOGGERS, PHOTO, StartBot, settings_for

TOKEN = "123456:AAH-secret_token-value-0123456789abcdef"
SECRET = TOKEN.split(":")[1]
OK = b'{"ok": true, "result": true}'
PIECE = 64 * 1024


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

    async def misbehave(request: web.Request) -> web.StreamResponse:
        """``/bot<token>/<how>``: the Bot API's path, answered the way ``how`` says."""
        await request.read()
        how = request.match_info["how"]
        if how == "moved":  # a proxy sending the call elsewhere
            return web.Response(status=307, headers={"Location": "/echo"})
        if how == "loop":  # a misconfigured proxy: back to itself, the URL in the page
            page = f'<a href="{request.url}">Temporary Redirect</a>.'
            return web.Response(status=307, headers={"Location": str(request.url)}, text=page)
        if how == "hangup":  # read the call, then drop the connection unanswered
            assert request.transport is not None
            request.transport.close()
            return web.Response()  # to a closed connection: never arrives
        response = web.StreamResponse()
        if how == "huge":  # says how big it is, then sends a first piece
            response.content_length = 1 << 30
        if how == "bomb":  # small on the wire, huge once unpacked
            response.headers["Content-Encoding"] = "gzip"
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):  # the client gave up: as it should
            if how == "trickle":  # each byte well within the read timeout, the whole too slow
                for byte in OK:
                    await asyncio.sleep(0.1)
                    await response.write(bytes([byte]))
            elif how == "bomb":
                await response.write(gzip.compress(OK + b" " * (4 << 20)))
            else:  # "huge", "endless": more and more, never ending
                for _ in range(1 if how == "huge" else 32):
                    await response.write(b" " * PIECE)
                await release.wait()
            await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/stuck", stuck)
    app.router.add_post("/bot{token}/{how}", misbehave)
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
        with pytest.raises(PoolTimedOut, match=r"not\* sent") as caught:
            await request.post(f"{url}/echo")
        assert str(caught.value).startswith("Pool timeout: ")
        release.set()
        assert await first is True


async def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AiohttpRequest() as request:
        with pytest.raises(NotSent, match=r"not\* sent") as caught:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
    assert not isinstance(caught.value, TimedOut)
    assert SECRET not in str(caught.value)


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


async def test_a_redirect_is_an_answer_not_a_second_post(server) -> None:
    """A 307 would re-send the call (a photo, a post) to wherever it points."""
    url, seen, _ = server
    async with AiohttpRequest() as request:
        with pytest.raises(NetworkError, match=r"Temporary Redirect \(307\)") as caught:
            await request.post(f"{url}/bot{TOKEN}/moved", RequestData([]))
    assert seen == []  # /echo never got the call
    assert not isinstance(caught.value, NotSent)  # the proxy did get it


async def test_a_redirect_loop_names_no_token(server) -> None:
    """The error ends up in the log, the jobs table and its backups."""
    url, _, _ = server
    async with AiohttpRequest() as request:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"{url}/bot{TOKEN}/loop")
    assert "307" in str(caught.value)
    assert SECRET not in str(caught.value)


async def test_an_answer_trickling_in_ends_at_the_deadline(server) -> None:
    """Each byte comes within the read timeout; the whole call gets connect + write + read."""
    url, _, _ = server
    async with AiohttpRequest(connect_timeout=0.2, write_timeout=0.2, read_timeout=0.5) as request:
        with pytest.raises(TimedOut, match=r"deadline of 0\.9 s") as caught:
            await request.post(f"{url}/bot{TOKEN}/trickle")
    assert not isinstance(caught.value, NotSent)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("how", ["huge", "endless", "bomb"])
async def test_an_answer_over_the_bound_is_refused_unread(server, how: str) -> None:
    """ "huge" says its size, "endless" does not, "bomb" is small until unpacked; a client
    that read all of the first two would wait here for the rest until its read timeout."""
    url, _, _ = server
    async with AiohttpRequest(read_timeout=5, max_answer_bytes=4 * PIECE) as request:
        with pytest.raises(NetworkError, match=r"larger than 256 KiB") as caught:
            await request.post(f"{url}/bot{TOKEN}/{how}")
    assert not isinstance(caught.value, (NotSent, TimedOut))
    assert SECRET not in str(caught.value)


async def test_a_connection_dropped_after_the_call_is_not_not_sent(server) -> None:
    """Telegram may have carried it out: only ``NotSent`` is safe to send again."""
    url, _, _ = server
    async with AiohttpRequest() as request:
        with pytest.raises(NetworkError, match="disconnected") as caught:
            await request.post(f"{url}/bot{TOKEN}/hangup")
    assert not isinstance(caught.value, (NotSent, TimedOut))
    assert SECRET not in str(caught.value)


@pytest.fixture
def unanswering_port() -> Iterator[int]:
    """A port whose listener never accepts and whose queue is full: connecting hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued = [socket.socket() for _ in range(4)]
        for sock in queued:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        yield port
        for sock in queued:
            sock.close()


async def test_a_connect_timeout_says_it_could_not_connect(unanswering_port: int) -> None:
    async with AiohttpRequest(connect_timeout=0.2, pool_timeout=5) as request:
        with pytest.raises(ConnectTimedOut, match=r"not\* sent") as caught:
            await request.post(f"http://127.0.0.1:{unanswering_port}/bot{TOKEN}/getMe")
    assert "could not connect" in str(caught.value)
    assert "Pool timeout" not in str(caught.value)
    assert SECRET not in str(caught.value)


# --- what an operator would find: the bot behind a Bot API that redirects ---


class RedirectingProxy:
    """A misconfigured proxy in front of the fake Bot API: one method is answered with a
    307 back to itself, its page quoting the URL (token and all); the rest pass."""

    def __init__(self, tg: FakeTelegram, method: str) -> None:
        self.tg, self.method = tg, method
        app = web.Application(client_max_size=100 << 20)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self.server = LoopbackServer(app)

    def __enter__(self) -> str:
        return self.server.start().url

    def __exit__(self, *_: object) -> None:
        self.server.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.path.endswith(f"/{self.method}"):
            page = f'<a href="{request.url}">Temporary Redirect</a>.'
            return web.Response(status=307, headers={"Location": str(request.url)}, text=page)
        headers = {"Content-Type": request.headers.get("Content-Type", "")}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self.tg.url + request.path_qs, data=await request.read(),
                headers=headers,
            ) as answer,
        ):  # fmt: skip
            kind = answer.headers.get("Content-Type", "application/octet-stream")
            return web.Response(
                status=answer.status, body=await answer.read(), headers={"Content-Type": kind}
            )


async def test_a_redirecting_bot_api_leaves_the_token_in_no_store_backup_or_log(
    tg: FakeTelegram, start_bot: StartBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The uploads fail; why is logged, and may be kept with the job, hence in backups."""
    secret = tg.token.split(":")[1]
    caplog.set_level(logging.INFO)  # an operator's level: PTB's debug lines show the URL
    with RedirectingProxy(tg, "sendAudio") as url:
        bot = await start_bot(TELEGRAM_API_URL=url, max_attempts=1)
        tg.send_photo(tg.user(101), PHOTO)
        await bot.until(
            lambda: bot.job_statuses() in (["failed"], ["delivered"]), "the delivery settled"
        )
        await backup(bot.data_dir / "immu.db", tmp_path / "backup.db")
        await bot.stop()
    kept = [*bot.data_dir.rglob("immu.db*"), tmp_path / "backup.db"]
    assert [path.name for path in kept if secret.encode() in path.read_bytes()] == []
    formatter = logging.Formatter()  # as is: not even masked yet by the log set-up
    bots_log = [formatter.format(r) for r in caplog.records if r.name.split(".")[0] in BOT_LOGGERS]
    assert any("sendAudio" in line or "307" in line for line in bots_log)
    assert not [line for line in bots_log if secret in line]


def test_a_redirect_at_start_up_is_one_line_without_the_token(
    tg: FakeTelegram, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RedirectingProxy(tg, "getChat") as url:
        code = run_bot(settings_for(tg, tmp_path / "data", TELEGRAM_API_URL=url))
    err = capsys.readouterr().err
    assert code == 2
    assert "immu: channel @immu_feed cannot be reached: Temporary Redirect (307)" in err
    assert tg.token.split(":")[1] not in err
