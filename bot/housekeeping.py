"""Background upkeep: retry refused posts, the digest, retention, the workers metric."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from telegram import Bot
from telegram.error import RetryAfter, TelegramError

from bot.feed import Feed
from bot.files import FileStore
from bot.jobs import Jobs
from bot.publisher import Publisher
from bot.settings import Settings
from bot.telegram.texts import plain, text
from bot.telegram.transport import NotSent
from storage import PostView, Store

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0
DIGEST_WINDOW = timedelta(days=7)  # the digest lists the week's most liked, whenever it runs
DIGEST_SIZE = 5
LAST_DIGEST = "last_digest"  # meta key


class Housekeeping:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        files: FileStore,
        feed: Feed,
        publisher: Publisher,
        jobs: Jobs,
        bot: Bot,
    ) -> None:
        self.settings = settings
        self.store = store
        self.files = files
        self.feed = feed
        self.publisher = publisher
        self.jobs = jobs
        self.bot = bot

    async def run(self) -> None:
        """Every ``IMMU_POST_RETRY_S``: refused posts, the digest, the metric; hourly: retention."""
        last_retention = 0.0
        while True:
            # each part alone: one that fails (logged) never skips the others
            await self._part("pending posts", self.publisher.retry_pending)
            await self._part("digest", self.digest_if_due)
            await self._part("workers", self.jobs.workers_alive)  # the metric, between /stats
            if time.monotonic() - last_retention > RETENTION_EVERY_S:
                last_retention = time.monotonic()
                await self._part("retention", self.expire)
            await asyncio.sleep(self.settings.post_retry_s)

    @staticmethod
    async def _part(name: str, step: Callable[[], Awaitable[object]]) -> None:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("housekeeping failed part=%s", name)

    async def expire(self) -> int:
        """Drop tracks nobody chose after ``IMMU_RETENTION_DAYS``; returns files removed."""
        paths = await self.store.expire_unchosen(self.settings.retention_days)
        self.files.remove(paths)
        if paths:
            log.info("retention removed files=%d", len(paths))
        return len(paths)

    async def digest_if_due(self) -> bool:
        """Post the most liked tracks of the period to the channel, once per period."""
        every = self.settings.digest_every_h
        if every <= 0:
            return False
        now = datetime.now(UTC)
        last = await self.store.get_meta(LAST_DIGEST)
        if last is None:  # the first period starts when the bot first runs
            await self.store.set_meta(LAST_DIGEST, now.isoformat())
            return False
        if now - datetime.fromisoformat(last) < timedelta(hours=every):
            return False
        posts = await self.store.top_posts(now - DIGEST_WINDOW, limit=DIGEST_SIZE)
        # the period is recorded first: a digest may be lost, never sent twice
        await self.store.set_meta(LAST_DIGEST, now.isoformat())
        if not posts:
            return False
        digest = "\n\n".join(self._digest(lang, posts) for lang in self.feed.languages())
        try:
            await self.bot.send_message(self.feed.chat, digest)
        except (NotSent, RetryAfter) as exc:  # surely not posted: the next round tries
            log.warning("digest not sent reason=%s", exc)
            await self.store.set_meta(LAST_DIGEST, last)
            return False
        except TelegramError as exc:  # maybe posted: a second digest would be worse
            log.warning("digest unconfirmed reason=%s; not sent again this period", exc)
            return False
        log.info("digest posted posts=%d", len(posts))
        return True

    def _digest(self, lang: str, posts: list[PostView]) -> str:
        lines = "\n".join(
            text(lang, "top_line", rank=i + 1, url=self.feed.url(p.channel_message_id or 0), genre=p.genre, likes=p.likes)
            for i, p in enumerate(posts)
        )  # fmt: skip
        return plain(lang, "digest", lines=lines)
