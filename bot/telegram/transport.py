"""How the bot speaks HTTP to the Bot API: python-telegram-bot's ``BaseRequest`` on aiohttp.

PTB's own ``HTTPXRequest`` costs the event loop about 2 ms a call on this kind of host,
a third of it httpcore looking over every pooled connection before and after each
request. Under a burst of a thousand photos every "got it" waits behind that. aiohttp
does the same call for a fraction of it, and PTB documents ``BaseRequest`` as the way
to bring another HTTP library (its maintainers keep one on aiohttp in ptbcontrib,
which is not on PyPI).

The contract is PTB's: answer ``(status, body)`` for any HTTP answer and PTB turns
those outside 2xx into its exceptions. A redirect is such an answer too: it is never
followed (nor is it by PTB's own transport), since following a 307 sends the call, a
photo or a post, again to wherever it points. The failures say whether the call may
have reached Telegram, so the bot knows what is safe to send again:

- ``NotSent`` (a ``NetworkError``): the request provably never left: no connection
  could be opened (refused, name not found, TLS failed). Safe to send again. Two of
  them are also ``TimedOut``: ``ConnectTimedOut`` (no connection opened within the
  connect timeout) and ``PoolTimedOut`` (all connections busy for the pool timeout,
  with PTB's "Pool timeout" message).
- ``TimedOut``: the request was sent and no answer came in time, either the read
  timeout between two pieces of the answer or the call's deadline. Telegram may have
  carried it out.
- ``NetworkError``: anything else once the request may have been written (a reset, a
  disconnect), and an answer over the size bound. Telegram may have carried it out.

No message names the bot token: where a URL shows, its ``bot<token>`` path reads as
that placeholder, and so does the token in an answer outside 2xx (a proxy's redirect
page quoting the URL), since PTB quotes such answers in its errors, and those errors
reach the log, the jobs table and its backups.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from typing import NoReturn, cast
from urllib.parse import urlsplit

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class NotSent(NetworkError):
    """The request never reached Telegram (no connection could be opened, or none was
    free): sending it again cannot make a second message. Every other failure, once the
    request was written (a 5xx, a reset, a timeout), says nothing about whether Telegram
    carried it out."""


class PoolTimedOut(TimedOut, NotSent):
    """No connection was free in time: PTB's "pool timeout", nothing was sent."""


class ConnectTimedOut(TimedOut, NotSent):
    """No connection could be opened in time: nothing was sent."""


POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. "
    "Request was *not* sent to Telegram."
)
NOT_SENT = "Request was *not* sent to Telegram."
MAY_HAVE_ARRIVED = "Telegram may have carried it out."

MAX_ANSWER_BYTES = 16 << 20
"""A Bot API answer is small: getUpdates with 100 updates is well under 1 MiB."""
MAX_FILE_BYTES = 20 << 20
"""Files the bot downloads: the Bot API serves none larger than 20 MB."""

# a Telegram token is "<bot id>:<secret>", in every Bot API URL as /bot<token>/
_TOKEN_IN_URL = re.compile(r"/bot(\d+:[^/?#]+)")
TOKEN_PLACEHOLDER = "<token>"


class AiohttpRequest(BaseRequest):
    """One aiohttp session with up to ``pool_size`` connections.

    Timeouts as PTB names them: ``pool`` to wait for a free connection, ``connect`` to
    open one, ``read`` between two pieces of the answer. aiohttp has no write timeout:
    ``write`` counts towards the deadline, which each call has once it holds a
    connection: ``connect + write + read`` seconds for the whole call, however slowly
    its answer trickles in (a long poll's ``read`` includes its poll; a call that
    uploads or downloads a file has ``media_write_timeout`` as its ``write`` unless the
    caller gives one). Without one of the three there is no deadline.

    Answers larger than ``max_answer_bytes``, and file downloads larger than
    ``max_file_bytes``, are refused as soon as they say so or grow past it.
    """

    def __init__(
        self,
        pool_size: int = 256,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        proxy: str | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self._pool_size = pool_size
        self._proxy = proxy
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._max_answer = max_answer_bytes
        self._max_file = max_file_bytes
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(pool_size)
        # when Telegram last answered 2xx (monotonic): on the request that only polls, a
        # poll that has gone quiet shows here (/healthz reads it)
        self.answered_at: float | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._slots = asyncio.Semaphore(self._pool_size)
            self._session = aiohttp.ClientSession(
                # ``_slots`` is the pool: waiting for it is the pool timeout, so that
                # aiohttp's own wait, which it names a connect timeout, never happens
                connector=aiohttp.TCPConnector(limit=0),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        # PTB fetches files with GET (``retrieve``) and calls the Bot API with POST
        download = method == "GET"
        files = download or bool(request_data and request_data.contains_files)
        read = _given(read_timeout, self._read)
        write = _given(write_timeout, self._media_write if files else self._write)
        connect = _given(connect_timeout, self._connect)
        pool = _given(pool_timeout, self._pool)
        deadline = (
            None if connect is None or write is None or read is None else connect + write + read
        )
        timeout = aiohttp.ClientTimeout(
            total=deadline, connect=connect, sock_connect=connect, sock_read=read
        )
        call = _call_name(url, download)
        await self._take_slot(pool, call)
        try:
            async with self._session.request(
                method,
                url,
                data=_body(request_data),
                timeout=timeout,
                proxy=self._proxy,
                allow_redirects=False,
            ) as response:
                body = await _read(response, self._max_file if download else self._max_answer)
                status = response.status
        except aiohttp.ConnectionTimeoutError:
            where = _host(url) + (f" through the proxy {_host(self._proxy)}" if self._proxy else "")
            raise ConnectTimedOut(
                f"Connect timeout: could not connect to {where} within {_s(connect)}. "
                f"{NOT_SENT} ({call})"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise NotSent(_mask(f"aiohttp.{_named(exc)}. {NOT_SENT} ({call})", url)) from None
        except aiohttp.SocketTimeoutError:
            raise TimedOut(
                f"Timed out: no answer for {_s(read)} (read timeout). {MAY_HAVE_ARRIVED} ({call})"
            ) from None
        except TimeoutError:  # aiohttp's ``total``
            raise TimedOut(
                f"Timed out: the call took longer than its deadline of {_s(deadline)} "
                f"(connect + write + read). {MAY_HAVE_ARRIVED} ({call})"
            ) from None
        except _TooLarge as exc:
            raise NetworkError(
                f"Answer refused: larger than {_size(exc.bound)}, the most this bot reads "
                f"from {'a file download' if download else 'the Bot API'}"
                f"{f' (it says {exc.said} bytes)' if exc.said else ''}. "
                f"{MAY_HAVE_ARRIVED} ({call})"
            ) from None
        except aiohttp.ClientError as exc:
            message = f"aiohttp.{_named(exc)}. {MAY_HAVE_ARRIVED} ({call})"
            raise NetworkError(_mask(message, url)) from None
        except Exception as exc:  # PTB would quote it whole, URL and all; kept for its traceback
            message = f"Unknown error in HTTP implementation: {_named(exc)} ({call})"
            raise NetworkError(_mask(message, url)) from exc
        finally:
            self._slots.release()
        if 200 <= status < 300:
            self.answered_at = time.monotonic()
        else:  # PTB quotes the body of such answers in its errors
            for token in _token_forms(url):
                body = body.replace(token.encode(), TOKEN_PLACEHOLDER.encode())
        return status, body

    async def _take_slot(self, pool: float | None, call: str) -> None:
        """One of the ``pool_size`` connections, waiting at most ``pool`` seconds."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: taken at once, no timer to set
            return
        try:
            async with asyncio.timeout(pool):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolTimedOut(
                f"{POOL_TIMEOUT_MESSAGE} ({call}: all {self._pool_size} busy for {_s(pool)})"
            ) from None


class _TooLarge(Exception):
    def __init__(self, bound: int, said: int | None = None) -> None:
        super().__init__(bound)
        self.bound, self.said = bound, said


async def _read(response: aiohttp.ClientResponse, bound: int) -> bytes:
    """The answer's body, refused once it says or shows it is over ``bound`` bytes (it
    is counted unpacked: a small gzip can unpack to gigabytes)."""
    said = response.content_length
    if said is not None and said > bound:
        _refuse(response, bound, said)
    chunks = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > bound:
            _refuse(response, bound)
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(response: aiohttp.ClientResponse, bound: int, said: int | None = None) -> NoReturn:
    response.close()  # drop the connection: the rest is never read
    raise _TooLarge(bound, said)


def proxy_from_env(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTPS_PROXY, ALL_PROXY, NO_PROXY ...),
    as PTB's httpx used it. Read once: aiohttp's ``trust_env`` reads it, and ~/.netrc,
    on every call, which doubled the first reply's time under a burst."""
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


def _given(timeout: object, default: float | None) -> float | None:
    """A timeout the caller gave, else ours (PTB passes ``DEFAULT_NONE`` for "not given")."""
    return default if timeout is BaseRequest.DEFAULT_NONE else cast("float | None", timeout)


def _body(request_data: RequestData | None) -> aiohttp.FormData | None:
    """The parameters as a form; with files, a multipart form (as the Bot API takes them)."""
    if request_data is None:
        return None
    form = aiohttp.FormData(request_data.json_parameters)
    if request_data.contains_files:
        for name, (filename, content, *mime) in request_data.multipart_data.items():
            form.add_field(name, content, filename=filename, content_type=mime[0] if mime else None)
    elif not request_data.json_parameters:
        return None
    return form


def _mask(text: str, url: str) -> str:
    """``text`` without the token in ``url``."""
    for token in _token_forms(url):
        text = text.replace(token, TOKEN_PLACEHOLDER)
    return text


def _token_forms(url: str) -> tuple[str, ...]:
    """The token in ``url`` as it is, and with its ":" percent-encoded, as a page
    quoting the URL may have it."""
    if (found := _TOKEN_IN_URL.search(url)) is None:
        return ()
    token = found[1]
    return token, token.replace(":", "%3A"), token.replace(":", "%3a")


def _call_name(url: str, download: bool) -> str:
    """What the call was, for the operator: the Bot API method, or a file download."""
    return "file download" if download else urlsplit(url).path.rpartition("/")[2] or "?"


def _host(url: str | None) -> str:
    """host:port only: a proxy URL may carry a password, an API URL the token."""
    parts = urlsplit(url or "")
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _named(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _s(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:g} s"


def _size(count: int) -> str:
    return f"{count / (1 << 20):g} MiB" if count >= 1 << 20 else f"{count / 1024:g} KiB"
