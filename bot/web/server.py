"""IMMU's one HTTP server: features add their routes, ``serve`` starts and stops it.

It knows nothing of Telegram or of the bot: a route is a path and an aiohttp handler.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)

# A request answered before its body was read (refused) has the rest of its body read
# and dropped, never kept, for at most this long before the connection closes: closing
# on unread data sends a reset, and a client still sending would see that reset
# instead of the answer (RFC 9112, 9.6). aiohttp's own 10 s is more than a refusal needs.
LINGER_S = 2.0
# The longest header field taken. aiohttp's own 8190 bytes would answer a longer one
# with a bare 400 before any route saw it; a route that checks a header (the Mini App's
# initData, up to 8192 characters) must get it to refuse it with a reason in the log.
MAX_FIELD_SIZE = 16_384


class WebServer:
    """An aiohttp ``AppRunner`` on ``host:port``; routes are added before ``start``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._app = web.Application()
        self._runner: web.AppRunner | None = None

    def add_post(self, path: str, handler: Handler) -> None:
        self._app.router.add_post(path, handler)

    def add_get(self, path: str, handler: Handler) -> None:
        self._app.router.add_get(path, handler)  # HEAD too, as aiohttp adds it

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        runner = web.AppRunner(
            self._app,
            access_log=None,
            lingering_time=LINGER_S,
            max_field_size=MAX_FIELD_SIZE,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("web server listening host=%s port=%d", self.host, self.port)

    async def stop(self) -> None:
        """Stops listening and closes every connection; nothing is left bound to the port."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await runner.cleanup()
        log.info("web server stopped host=%s port=%d", self.host, self.port)
