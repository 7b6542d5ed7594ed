"""How updates reach the bot: long polling, or Telegram's POSTs to a webhook.

Polling suits one small host; production behind HTTPS sets ``IMMU_WEBHOOK_URL``.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from telegram.error import TelegramError
from telegram.ext import Application

from bot.settings import Settings

log = logging.getLogger(__name__)

# Telegram sends reaction counts only to a bot that asks for them by name.
ALLOWED_UPDATES = ["message", "callback_query", "message_reaction_count"]
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token


def webhook_problem(settings: Settings) -> str | None:
    """A webhook anyone could post to would let anyone forge updates: a secret is required."""
    if not settings.webhook_url:
        return None
    if settings.webhook_secret is None:
        return "IMMU_WEBHOOK_SECRET is required when IMMU_WEBHOOK_URL is set"
    if not WEBHOOK_SECRET.fullmatch(settings.webhook_secret.get_secret_value()):
        return "IMMU_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -"
    return None


async def receive_updates(app: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Long polling by default; Telegram's POSTs to ``IMMU_WEBHOOK_URL`` when it is set."""
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
    # behind a reverse proxy that terminates HTTPS: the public URL's path is ours too
    await app.updater.start_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
        webhook_url=settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
    )
    log.info("webhook listening on %s:%d", settings.webhook_listen, settings.webhook_port)


def _polling_error(error: TelegramError) -> None:
    """getUpdates failed (a 502, a timeout): polling goes on by itself; one line."""
    log.warning("polling failed reason=%s: %s", type(error).__name__, str(error)[:200])
