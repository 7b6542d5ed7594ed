"""All the wiring in one place: settings -> store, files, composer, Telegram, handlers.

Read this first. ``run_bot`` is what ``immu bot`` calls.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from telegram.error import Forbidden, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    MessageReactionHandler,
    filters,
)

from bot import handlers, metrics
from bot.files import FileStore
from bot.studio import Studio
from immu.settings import Settings
from pipeline import Composer, LocalComposer
from pipeline.ray_cluster import RayClusterError
from storage import Store, StoreError

log = logging.getLogger(__name__)

# Telegram sends reaction counts only to a bot that asks for them by name.
ALLOWED_UPDATES = ["message", "callback_query", "message_reaction_count"]


class StartupError(Exception):
    """The bot cannot start; the message is one line for the operator."""


def build_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    """The python-telegram-bot Application with every handler wired."""
    if settings.telegram_bot_token is None:
        raise StartupError("TELEGRAM_BOT_TOKEN is not set (see .env.example)")
    if not settings.channel:
        raise StartupError("IMMU_CHANNEL is not set: the @name or id of the feed channel")
    api = settings.telegram_api_url.rstrip("/")
    app = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .rate_limiter(AIORateLimiter(max_retries=3))  # waits out 429 retry_after for us
        .concurrent_updates(16)
        .get_updates_read_timeout(settings.poll_timeout_s + 10)
        .build()
    )
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler(["start", "help"], handlers.start, filters=private))
    app.add_handler(CommandHandler("profile", handlers.profile, filters=private))
    app.add_handler(CommandHandler("top", handlers.top, filters=private))
    app.add_handler(CommandHandler("delete", handlers.delete, filters=private))
    app.add_handler(CommandHandler("anonymous", handlers.anonymous, filters=private))
    app.add_handler(CommandHandler("describe", handlers.describe, filters=private))
    app.add_handler(CommandHandler("lang", handlers.lang, filters=private))
    app.add_handler(CommandHandler("forget", handlers.forget, filters=private))
    app.add_handler(CommandHandler("stats", handlers.stats, filters=private))
    app.add_handler(MessageHandler(private & filters.PHOTO, handlers.photo))
    app.add_handler(MessageHandler(private & filters.Document.ALL, handlers.document))
    app.add_handler(MessageHandler(private & ~filters.COMMAND, handlers.unsupported))
    app.add_handler(MessageHandler(private & filters.COMMAND, handlers.start))
    app.add_handler(CallbackQueryHandler(handlers.button))
    app.add_handler(MessageReactionHandler(handlers.reaction_count))
    app.add_error_handler(_log_error)
    return app


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    error = context.error
    if isinstance(error, (NetworkError, TimedOut)):
        log.warning("telegram unreachable reason=%s", error)
    else:
        log.error("handler failed reason=%r", error, exc_info=error)


async def _check_channel(app: Application, studio: Studio) -> None:  # type: ignore[type-arg]
    channel = studio.feed.chat
    try:
        chat = await app.bot.get_chat(channel)
        member = await app.bot.get_chat_member(chat.id, app.bot.id)
    except (Forbidden, TelegramError) as exc:
        raise StartupError(f"channel {channel} cannot be reached: {exc}") from exc
    if member.status != "administrator":
        raise StartupError(
            f"the bot must be an administrator of {channel} (to post and to see reactions)"
        )
    studio.feed.resolved(chat.id, chat.username)


async def serve(settings: Settings, stop: asyncio.Event, composer: Composer | None = None) -> None:
    """Start everything, run until ``stop`` is set, then shut down cleanly."""
    app = build_application(settings)
    try:
        files = FileStore(settings.data_dir)
        store = await Store.open(settings.db_path)
    except (OSError, StoreError) as exc:
        raise StartupError(f"data directory {settings.data_dir} is not usable: {exc}") from exc
    composer = composer or _composer(settings)
    try:
        try:
            await app.initialize()  # getMe: checks the token
        except InvalidToken as exc:
            raise StartupError(
                "Telegram refused TELEGRAM_BOT_TOKEN (check it with @BotFather)"
            ) from exc
        except NetworkError as exc:
            raise StartupError(f"cannot reach the Bot API at {settings.telegram_api_url}") from exc
        studio = Studio(settings, store, files, composer, app.bot)
        studio.feed.bot_username = app.bot.username
        app.bot_data["studio"] = studio
        await _check_channel(app, studio)
        log.info("loading models")
        try:
            await composer.start()
        except RayClusterError as exc:  # no token, a wrong one, or a cluster without auth
            raise StartupError(str(exc)) from exc
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            allowed_updates=ALLOWED_UPDATES,
            timeout=settings.poll_timeout_s,
            drop_pending_updates=False,
        )
        await studio.resume()
        lanes = settings.lanes if settings.composer == "ray" else settings.batch_jobs
        workers = [asyncio.create_task(studio.run()) for _ in range(lanes)]
        workers.append(asyncio.create_task(studio.housekeeping()))
        if settings.metrics_port:
            metrics.serve(settings.metrics_host, settings.metrics_port)
        log.info("bot ready username=@%s channel=%s", app.bot.username, studio.feed.display_name)
        await stop.wait()
        log.info("stopping")
        for task in workers:
            task.cancel()
        await studio.close()
        await app.updater.stop()
        await app.stop()
    finally:
        if app.running:
            await app.stop()
        try:
            await app.shutdown()
        except Exception as exc:  # never let a failed shutdown hide the startup error
            log.debug("shutdown reason=%s", exc)
        await composer.close()
        await store.close()


def _composer(settings: Settings) -> Composer:
    """IMMU_COMPOSER: local (this process, one GPU lane) or ray (GPU workers)."""
    if settings.composer == "ray":
        from pipeline.ray_composer import RayComposer

        return RayComposer(
            address=settings.ray_address,
            max_attempts=settings.max_attempts,
            allow_no_auth=settings.ray_allow_no_auth,
        )
    return LocalComposer(settings.pipeline_config())


def run_bot(settings: Settings) -> int:
    """``immu bot``: run until SIGINT/SIGTERM. A startup problem is one line, exit 2."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    try:
        asyncio.run(main())
    except StartupError as exc:
        print(f"immu: {exc}", file=sys.stderr)
        return 2
    return 0


__all__ = ["ALLOWED_UPDATES", "StartupError", "build_application", "run_bot", "serve"]
