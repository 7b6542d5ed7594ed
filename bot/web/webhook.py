"""The webhook route: Telegram POSTs each update here with the secret in a header.

Anyone who finds the URL can POST to it, and an update names its sender, so a forged
one could act as an admin: nothing but the secret lets a request in, and nothing is
read before the secret is checked.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from telegram import Bot, Update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# an update is a few KiB (a message with entities and a reply); 1 MiB is far above any
MAX_UPDATE_BYTES = 1024 * 1024


def webhook_handler(secret: str, bot: Bot, queue: asyncio.Queue[object]) -> Handler:
    """An aiohttp handler that puts each genuine update on ``queue`` (PTB's update queue)."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        # constant time: how long a refusal takes says nothing of how much was right
        if not hmac.compare_digest(given, expected):
            log.info("webhook refused reason=secret remote=%s", request.remote)
            return web.Response(status=403)
        length = request.content_length
        if length is not None and length > MAX_UPDATE_BYTES:
            log.warning("webhook refused reason=too-large bytes=%d", length)
            return web.Response(status=413)
        body = await _bounded(request, MAX_UPDATE_BYTES)  # chunked: no length to check
        if body is None:
            log.warning("webhook refused reason=too-large bytes=>%d", MAX_UPDATE_BYTES)
            return web.Response(status=413)
        update = _update(body, bot)
        if update is not None:
            await queue.put(update)
        # 200 even for a body that is not an update: it came with the secret, so from
        # Telegram, which retries anything else, and it would fail the same way again
        return web.Response(status=200)

    return receive


async def _bounded(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past ``limit`` (the rest is never read)."""
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _update(body: bytes, bot: Bot) -> Update | None:
    """The update in ``body``; None, and one warning line, when it holds none."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        return Update.de_json(data, bot)
    # PTB's parsing raises whatever a malformed object provokes (TypeError, KeyError ...)
    except Exception as exc:
        log.warning(
            "webhook body is not an update, dropped reason=%s bytes=%d: %s",
            type(exc).__name__,
            len(body),
            str(exc)[:200],
        )
        return None
