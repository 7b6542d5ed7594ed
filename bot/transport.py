"""How the bot speaks HTTP to the Bot API: python-telegram-bot's ``BaseRequest`` on aiohttp.

PTB's own ``HTTPXRequest`` costs the event loop about 2 ms a call on this kind of host,
a third of it httpcore looking over every pooled connection before and after each
request. Under a burst of a thousand photos every "got it" waits behind that. aiohttp
does the same call for a fraction of it, and PTB documents ``BaseRequest`` as the way
to bring another HTTP library (its maintainers keep one on aiohttp in ptbcontrib,
which is not on PyPI).

The contract is PTB's: answer ``(status, body)`` for any HTTP answer (PTB turns the
Bot API's errors into its exceptions), ``TimedOut`` when no answer came in time (the
call may have been carried out), ``NetworkError`` when the connection failed, and the
"pool timeout" ``TimedOut`` when no connection was free, so nothing was sent.
"""

from __future__ import annotations

import urllib.request
from typing import cast
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


POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. "
    "Request was *not* sent to Telegram."
)


class AiohttpRequest(BaseRequest):
    """One aiohttp session with up to ``pool_size`` connections.

    Timeouts as PTB names them: ``connect`` to open a connection, ``read`` between two
    pieces of the answer, ``pool`` to wait for a free connection, and for a call that
    uploads files ``write + read`` for the whole call (aiohttp has no write timeout).
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
    ) -> None:
        self._pool_size = pool_size
        self._proxy = proxy
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
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
        files = bool(request_data and request_data.contains_files)
        read = _given(read_timeout, self._read)
        write = _given(write_timeout, self._media_write if files else self._write)
        connect = _given(connect_timeout, self._connect)
        pool = _given(pool_timeout, self._pool)
        timeout = aiohttp.ClientTimeout(
            total=(write or 0) + (read or 0) if files and write and read else None,
            # aiohttp's "connect" is waiting for a free connection and opening one
            connect=None if pool is None and connect is None else (pool or 0) + (connect or 0),
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout, proxy=self._proxy
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise PoolTimedOut(POOL_TIMEOUT_MESSAGE) from exc
        except aiohttp.ClientConnectorError as exc:
            raise NotSent(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


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
