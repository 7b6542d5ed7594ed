"""How updates reach the bot: long polling, or Telegram's POSTs to a webhook.

Polling suits one small host; production behind HTTPS sets ``IMMU_WEBHOOK_URL``, and
the updates then come in through IMMU's own web server (``bot/web``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from telegram import Bot
from telegram.error import TelegramError
from telegram.ext import Application

from bot.settings import Settings
from bot.telegram.transport import AiohttpRequest
from bot.web import WebServer, webhook_handler
from bot.web.health import Check, Probe

log = logging.getLogger(__name__)

# Telegram sends reaction counts only to a bot that asks for them by name; inline queries
# are the tracks people share into other chats.
ALLOWED_UPDATES = ["message", "callback_query", "message_reaction_count", "inline_query"]
# Telegram's alphabet for secret_token, and long enough that guessing it is hopeless
# (a forged update can name any sender, an admin included)
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{32,256}")
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
# getWebhookInfo is a call to Telegram: however often a supervisor probes, asked at most
# this often (a backlog is judged between two answers this far apart)
WEBHOOK_INFO_CACHE_S = 30.0
# a delivery error this recent means updates may not be arriving now
WEBHOOK_ERROR_WINDOW = timedelta(minutes=5)


def webhook_problem(settings: Settings) -> str | None:
    """A webhook anyone could post to would let anyone forge updates: a long secret, and
    HTTPS, which Telegram requires anyway (better said now than after the models load)."""
    if not settings.webhook_url:
        return None
    url = urlsplit(settings.webhook_url)
    if url.scheme != "https" or not url.hostname:
        return "IMMU_WEBHOOK_URL must be an https:// URL: Telegram posts updates only over HTTPS"
    if settings.webhook_secret is None:
        return (
            "IMMU_WEBHOOK_SECRET is required when IMMU_WEBHOOK_URL is set "
            f"(make one: {MAKE_SECRET})"
        )
    if not WEBHOOK_SECRET.fullmatch(settings.webhook_secret.get_secret_value()):
        return (
            "IMMU_WEBHOOK_SECRET must be 32-256 characters of A-Z a-z 0-9 _ - "
            f"(make one: {MAKE_SECRET})"
        )
    return None


async def receive_updates(
    app: Application,  # type: ignore[type-arg]
    settings: Settings,
    web: WebServer,
) -> None:
    """Long polling by default; Telegram's POSTs to ``IMMU_WEBHOOK_URL`` when it is set,
    through ``web`` (whoever started it stops it)."""
    assert app.updater is not None
    if not settings.webhook_url:
        await app.updater.start_polling(
            allowed_updates=ALLOWED_UPDATES,
            timeout=settings.poll_timeout_s,
            drop_pending_updates=False,
            error_callback=_polling_error,
        )
        return
    assert settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    # behind a reverse proxy that terminates HTTPS: the public URL's path is ours too
    path = urlsplit(settings.webhook_url).path or "/"
    web.add_post(path, webhook_handler(secret, app.bot, app.update_queue))
    await web.start()  # listening before Telegram is told where to POST
    await app.bot.set_webhook(
        settings.webhook_url,
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
    )
    log.info("webhook set path=%s port=%d", path, settings.webhook_port)


def _polling_error(error: TelegramError) -> None:
    """getUpdates failed (a 502, a timeout): polling goes on by itself; one line."""
    log.warning("polling failed reason=%s: %s", type(error).__name__, str(error)[:200])


def updates_probe(
    app: Application,  # type: ignore[type-arg]
    settings: Settings,
    poll_request: AiohttpRequest,
) -> tuple[str, Probe]:
    """/healthz's check that updates can arrive, named for the mode: ``poll`` or
    ``webhook``. Made before ``receive_updates``: its clock starts with the bot."""
    if not settings.webhook_url:
        return "poll", PollWatch(poll_request, settings.poll_stale_s).check
    return "webhook", WebhookWatch(app.bot, settings.webhook_url).check


class PollWatch:
    """Polling is alive while getUpdates answers: a long poll answers at least every
    IMMU_POLL_TIMEOUT_S even when nobody writes, so a long silence is a poll that hangs
    or keeps failing (a proxy down, another instance polling: 409)."""

    def __init__(self, request: AiohttpRequest, stale_s: float) -> None:
        self.request = request  # the one that carries getUpdates and nothing else
        self.stale_s = stale_s
        self._since = time.monotonic()  # before the first answer: quiet since the start

    async def check(self) -> Check:
        answered = self.request.answered_at
        quiet = time.monotonic() - (answered if answered is not None else self._since)
        if quiet > self.stale_s:
            return Check(False, f"no answer to getUpdates for {quiet:.0f} s")
        return Check(True, f"getUpdates answered {quiet:.0f} s ago")


class WebhookWatch:
    """A webhook gets no call on a quiet night, so silence says nothing: Telegram's
    getWebhookInfo does. A delivery error since this start and within the last minutes,
    a backlog that grew between two answers, or another URL set means updates are not
    arriving."""

    def __init__(self, bot: Bot, url: str) -> None:
        self.bot = bot
        self.url = url
        # an error from before this start (the bot was down meanwhile) is history;
        # Telegram dates errors to the second
        self._since = datetime.now(UTC).replace(microsecond=0)
        self._pending: int | None = None
        self._answer: Check | None = None
        self._asked_at = 0.0
        self._lock = asyncio.Lock()

    async def check(self) -> Check:
        async with self._lock:  # probes at once share one call
            now = time.monotonic()
            if self._answer is None or now - self._asked_at >= WEBHOOK_INFO_CACHE_S:
                self._answer = await self._ask()
                self._asked_at = now
            return self._answer

    async def _ask(self) -> Check:
        try:
            info = await self.bot.get_webhook_info()
        except TelegramError as exc:
            return Check(False, f"getWebhookInfo failed: {type(exc).__name__}: {exc.message}")
        if info.url != self.url:
            return Check(False, "Telegram has another webhook URL, or none: updates go elsewhere")
        before, pending = self._pending, info.pending_update_count
        self._pending = pending
        failed, now = info.last_error_date, datetime.now(UTC)
        if failed is not None and failed >= max(self._since, now - WEBHOOK_ERROR_WINDOW):
            ago = (now - failed).total_seconds()
            why = (info.last_error_message or "no reason given")[:200]
            return Check(False, f"Telegram's delivery failed {ago:.0f} s ago: {why}")
        if before and pending > before:
            return Check(False, f"{pending} updates waiting, up from {before}")
        return Check(True, f"{pending} {'update' if pending == 1 else 'updates'} waiting")
