"""All the wiring in one place: settings -> store, files, composer, Telegram, handlers.

Read this first. ``run_bot`` is what ``immu bot`` calls.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
)

from bot import metrics
from bot.account import Account
from bot.admission import Admission
from bot.feed import Feed
from bot.files import FileStore
from bot.gallery import Gallery
from bot.handlers import operators, people
from bot.handlers.context import Context, Services, provide, services_of
from bot.housekeeping import Housekeeping
from bot.intake import Intake
from bot.jobs import Jobs
from bot.likes import Likes, normalised
from bot.moderation import Moderation
from bot.posting import Posting
from bot.pseudonym import Pseudonyms, install
from bot.publisher import Publisher
from bot.remixes import Remixes
from bot.review import Review
from bot.settings import Settings
from bot.sharing import Sharing
from bot.telegram.chat import Chat
from bot.telegram.menus import set_menus
from bot.telegram.transport import AiohttpRequest, proxy_from_env
from bot.telegram.updates import receive_updates, updates_probe, webhook_problem
from bot.web import WebServer
from bot.web.health import (
    HEALTH_PATH,
    Health,
    disk_probe,
    health_server,
    store_probe,
    workers_probe,
)
from bot.web.miniapp import MiniApp, webapp_problem, webapp_server
from pipeline import Composer
from pipeline.ray_cluster import RayClusterError
from storage import JobStatus, Store, StoreError, refuse_newer

log = logging.getLogger(__name__)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # links in our texts are to posts, not news


class StartupError(Exception):
    """The bot cannot start; the message is one line for the operator."""


def build_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    """The python-telegram-bot Application with every handler wired."""
    if settings.telegram_bot_token is None:
        raise StartupError("TELEGRAM_BOT_TOKEN is not set (see .env.example)")
    if not settings.channel:
        raise StartupError("IMMU_CHANNEL is not set: the @name or id of the feed channel")
    if settings.moderation == "review" and not settings.review_chat:
        raise StartupError("IMMU_MODERATION=review needs IMMU_REVIEW_CHAT: the operators' chat")
    if settings.moderation == "review" and not settings.admin_ids:  # else nobody decides
        raise StartupError("IMMU_MODERATION=review needs IMMU_ADMIN_IDS: who may approve posts")
    if problem := webhook_problem(settings):
        raise StartupError(problem)
    if problem := webapp_problem(settings):
        raise StartupError(problem)
    api = settings.telegram_api_url.rstrip("/")
    proxy = proxy_from_env(api)
    http = (
        AiohttpRequest(proxy=proxy),
        # the last getUpdates at shutdown waits for the cancelled long poll's connection;
        # PTB's 1 s is too short on a loaded host and the offset would not be confirmed
        AiohttpRequest(1, read_timeout=settings.poll_timeout_s + 10, pool_timeout=10, proxy=proxy),
    )
    app = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .request(http[0])  # see bot/telegram/transport.py: httpx made a burst wait
        .get_updates_request(http[1])
        # waits out 429 retry_after for us, and keeps to IMMU_SEND_RATE messages a second
        .rate_limiter(AIORateLimiter(overall_max_rate=settings.send_rate, max_retries=3))
        .concurrent_updates(16)
        # HTML once, here: a text meant as plain (a model's "R&B") says parse_mode=None
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW))
        .context_types(ContextTypes(context=Context))
        .post_init(lambda app: set_menus(app.bot, settings))
        .build()
    )
    # order matters: the first handler that matches takes the update. The operators'
    # commands and buttons come first: the people's end with catch-alls (any command,
    # any button) that would take them.
    operators.register(app, settings)
    people.register(app)
    app.add_error_handler(_log_error)
    app.bot_data["http"] = http  # closed by ``serve`` even if PTB never initialized
    return app


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    error = context.error
    if isinstance(error, (NetworkError, TimedOut)):
        log.warning("telegram unreachable reason=%s", error)
    else:
        log.error("handler failed reason=%r", error, exc_info=error)


async def _check_channel(app: Application, feed: Feed) -> None:  # type: ignore[type-arg]
    channel = feed.chat
    try:
        chat = await app.bot.get_chat(channel)
        member = await app.bot.get_chat_member(chat.id, app.bot.id)
    except (Forbidden, TelegramError) as exc:
        raise StartupError(f"channel {channel} cannot be reached: {exc}") from exc
    if member.status != "administrator":
        raise StartupError(
            f"the bot must be an administrator of {channel} (to post and to see reactions)"
        )
    feed.resolved(chat.id, chat.username)


async def serve(settings: Settings, stop: asyncio.Event, composer: Composer | None = None) -> None:
    """Start everything, run until ``stop`` is set, then shut down cleanly."""
    app = build_application(settings)
    try:
        refuse_newer(settings.db_path)  # a newer IMMU's folder: nothing is written there
        files = FileStore(settings.data_dir)
        pseudonyms = Pseudonyms.of_install(settings.data_dir)
        install(pseudonyms)  # before anything logs a person
        new = not settings.db_path.exists()
        store = await Store.open(settings.db_path)
    except (OSError, ValueError, StoreError) as exc:
        raise StartupError(f"data directory {settings.data_dir} is not usable: {exc}") from exc
    composer = composer or _composer(settings)
    web = WebServer(settings.webhook_listen, settings.webhook_port)  # listens with a webhook
    health_web = health_server(settings, web)  # /healthz: None with IMMU_HEALTH_PORT=0
    pages_web = webapp_server(settings, web)  # the Mini App: None without IMMU_WEBAPP_URL
    try:
        try:
            await _describe_store(store, new)
            jobs, tasks = await _start(
                app, settings, store, files, composer, web, health_web, pages_web, pseudonyms
            )
        except StartupError:
            raise
        except InvalidToken as exc:
            raise StartupError(
                "Telegram refused TELEGRAM_BOT_TOKEN (check it with @BotFather)"
            ) from exc
        except BadRequest as exc:  # PTB's kind of NetworkError, but Telegram did answer
            raise StartupError(f"Telegram refused a start-up request: {exc.message}") from exc
        except NetworkError as exc:
            raise StartupError(f"cannot reach the Bot API at {settings.telegram_api_url}") from exc
        except RayClusterError as exc:  # no token, a wrong one, or a cluster without auth
            raise StartupError(str(exc)) from exc
        except Exception as exc:  # a malformed answer, a model that will not load ...
            raise StartupError(f"start-up failed: {type(exc).__name__}: {exc}") from exc
        await stop.wait()
        log.info("stopping")
        await services_of(app).intake.close()  # photos being fetched reach the queue
        for task in tasks:
            task.cancel()
        await jobs.close()
        await web.stop()  # webhook: no update comes in any more
        if pages_web is not None:  # no delete or settings change from the pages either
            await pages_web.stop()
        if app.updater is not None and app.updater.running:  # polling
            await app.updater.stop()
        await app.stop()
    finally:
        await web.stop()  # also when start-up failed after it began to listen
        if pages_web is not None:  # before the store closes: its calls read it
            await pages_web.stop()
        if health_web is not None:  # before the store closes: it is one of its checks
            await health_web.stop()
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        try:
            await app.shutdown()
        except Exception as exc:  # never let a failed shutdown hide the startup error
            log.debug("shutdown reason=%s", exc)
        for request in app.bot_data["http"]:  # PTB skips them if getMe failed
            await request.shutdown()
        await composer.close()
        await store.close()


async def _start(
    app: Application,  # type: ignore[type-arg]
    settings: Settings,
    store: Store,
    files: FileStore,
    composer: Composer,
    web: WebServer,
    health_web: WebServer | None = None,
    pages_web: WebServer | None = None,
    pseudonyms: Pseudonyms | None = None,
) -> tuple[Jobs, list[asyncio.Task[None]]]:
    """Check the token and the channel, wire the services, load the models, start polling
    (or the webhook) and the job lanes; returns the job loop and its tasks."""
    await app.initialize()  # getMe: checks the token
    if not app.bot.supports_inline_queries:  # Telegram sends no inline queries then
        log.info("inline sharing off: turn inline mode on with @BotFather's /setinline")
    assert app.post_init is not None
    await app.post_init(app)  # PTB runs it only from its own polling and webhook runners
    bot = app.bot
    chat = Chat(bot, store)
    feed = Feed(settings, bot, files)
    feed.bot_username = bot.username
    publisher = Publisher(store, feed, chat, settings.post_attempts)
    remixes = Remixes(store, files, feed, chat, publisher)
    jobs = Jobs(settings, store, files, composer, chat, bot, publisher)
    review = Review(settings, store, feed, chat, bot, publisher, remixes)
    posting = Posting(store, files, feed, chat, publisher, review, remixes)
    moderation = Moderation(settings, store, feed, chat, publisher, review, remixes)
    intake = Intake(settings, store, files, Admission(settings, store), jobs, chat, bot, moderation)
    account = Account(settings, store, feed, chat, jobs)
    housekeeping = Housekeeping(settings, store, files, feed, publisher, jobs, bot)
    likes = Likes(store, feed, settings.like_reactions)
    sharing = Sharing(store, feed, settings.inline_rate)
    provide(app, Services(chat, intake, jobs, posting, account, likes, moderation, review, sharing))
    await _check_channel(app, feed)
    if problem := await review.unreachable():  # IMMU_REVIEW_CHAT: before anyone waits on it
        raise StartupError(problem)
    await store.recount_likes([normalised(e) for e in settings.like_reactions])
    log.info("loading models")
    await composer.start()
    await moderation.start()
    await app.start()
    if health_web is not None:  # on the webhook's server too: routes go in before it listens
        arrival = updates_probe(app, settings, app.bot_data["http"][1])
        health = Health(
            {
                arrival[0]: arrival[1],
                "composer": workers_probe(jobs.workers_alive),
                "store": store_probe(store),
                "disk": disk_probe(settings.data_dir, settings.health_min_free_mb),
            }
        )
        health_web.add_get(HEALTH_PATH, health.handle)
    if pages_web is not None:  # the Mini App: the chat's own services behind its pages
        keys = pseudonyms or Pseudonyms.of_install(settings.data_dir)
        gallery = Gallery(settings, store, files, feed, chat, account, posting, keys)
        await store.withhold(gallery.public.withholds)  # the filters' words: as the channel's
        MiniApp(settings, gallery).install(pages_web)
    await receive_updates(app, settings, web)
    if health_web is not None and not health_web.running:
        await _listen_for_health(health_web)
    if pages_web is not None:
        if not pages_web.running:
            await _listen_for_pages(pages_web)
        log.info(
            "mini app listening url=%s host=%s port=%d",
            settings.webapp_url,
            pages_web.host,
            pages_web.port,
        )
    await publisher.recover()  # sends a crash interrupted: their owners decide
    await jobs.resume()
    lanes = settings.lanes if settings.composer == "ray" else settings.batch_jobs
    tasks = [asyncio.create_task(jobs.run()) for _ in range(lanes)]
    tasks.append(asyncio.create_task(housekeeping.run()))
    tasks.append(asyncio.create_task(review.run()))
    if settings.metrics_port:
        metrics.serve(settings.metrics_host, settings.metrics_port)
    log.info("bot ready username=@%s channel=%s", bot.username, feed.display_name)
    return jobs, tasks


async def _describe_store(store: Store, new: bool) -> None:
    """Which store this is: started from another folder, a relative IMMU_DATA_DIR is a
    new, empty store, and this line is where the operator sees it."""
    if new:
        log.info("store path=%s new=true", store.path.resolve())
        return
    counts = await store.stats()
    jobs = sum(counts.get(status, 0) for status in JobStatus)
    log.info("store path=%s new=false jobs=%d", store.path.resolve(), jobs)


async def _listen_for_health(server: WebServer) -> None:
    try:
        await server.start()
    except OSError as exc:  # the port is taken (another bot on this host?) or not ours
        raise StartupError(
            f"the health route cannot listen on {server.host}:{server.port} ({exc.strerror}): "
            "set IMMU_HEALTH_PORT to a free port, or 0 for none"
        ) from exc


async def _listen_for_pages(server: WebServer) -> None:
    try:
        await server.start()
    except OSError as exc:  # the port is taken (the health route's? another bot's?)
        raise StartupError(
            f"the Mini App cannot listen on {server.host}:{server.port} ({exc.strerror}): "
            "set IMMU_WEBAPP_PORT to a free port"
        ) from exc


def _composer(settings: Settings) -> Composer:
    """IMMU_COMPOSER: local (this process, one GPU lane) or ray (GPU workers)."""
    if settings.composer == "ray":
        from pipeline.ray_composer import RayComposer

        return RayComposer(
            address=settings.ray_address,
            max_attempts=settings.max_attempts,
            allow_no_auth=settings.ray_allow_no_auth,
        )
    from pipeline.local_composer import LocalComposer

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


__all__ = ["StartupError", "build_application", "run_bot", "serve"]
