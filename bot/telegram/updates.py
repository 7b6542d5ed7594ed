"""How updates reach the bot: long polling, or Telegram's POSTs to a webhook.

Polling suits one small host; production behind HTTPS sets ``IMMU_WEBHOOK_URL``, and
the updates then come in through IMMU's own web server (``bot/web``).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from telegram.error import TelegramError
from telegram.ext import Application

from bot.settings import Settings
from bot.web import WebServer, webhook_handler

log = logging.getLogger(__name__)

# Telegram sends reaction counts only to a bot that asks for them by name.
ALLOWED_UPDATES = ["message", "callback_query", "message_reaction_count"]
# Telegram's alphabet for secret_token, and long enough that guessing it is hopeless
# (a forged update can name any sender, an admin included)
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{32,256}")
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


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
