"""Remixes of a post when the original goes: they carry its photo, so they go with it.

A remix is made from a copy of the original's photo: its cover, its MP3s' cover art and
its channel post show that photo. When the original's author is forgotten or purged, or
an operator removes the original for good, every remix of it is taken down: queued and
running ones never finish, posted ones leave the channel, rows and files go, and each
remix's owner is told why. When the original only leaves the channel for now (hidden
after reports) or its owner deletes it, the remixes of it still waiting in line end.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from bot.feed import Feed, Removal
from bot.files import FileStore
from bot.pseudonym import uid
from bot.publisher import Publisher
from bot.telegram.chat import Chat
from bot.telegram.texts import text
from storage import Job, PostStatus, Store

log = logging.getLogger(__name__)


class Remixes:
    def __init__(
        self, store: Store, files: FileStore, feed: Feed, chat: Chat, publisher: Publisher
    ) -> None:
        self.store = store
        self.files = files
        self.feed = feed
        self.chat = chat
        self.publisher = publisher

    async def take_down(self, original_post_ids: Sequence[int]) -> TakenDown:
        """Every remix of these posts, and remixes of those remixes (each carries a copy
        of the same photo), out of the channel, the store and the disk. A remix post the
        channel keeps public, or one never confirmed, is counted and its owner told so."""
        result = TakenDown()
        jobs = await self._descendants(original_post_ids)
        if not jobs:
            return result
        outcome: dict[int, str] = {}
        async with AsyncExitStack() as held:
            for job in sorted(jobs, key=lambda j: j.id):  # one order: no deadlock
                await held.enter_async_context(self.publisher.lock(job.id))
            for job in jobs:
                outcome[job.id] = "remix_taken_down"
                post = await self.store.post_for_job(job.id)
                if post is None:
                    continue
                if post.status == PostStatus.UNKNOWN:
                    result.unconfirmed += 1
                    outcome[job.id] = "remix_taken_down_unconfirmed"
                elif (
                    post.channel_message_id is not None
                    and await self.feed.remove(post.channel_message_id) == Removal.FAILED
                ):
                    result.still_public.append(self.feed.url(post.channel_message_id))
                    outcome[job.id] = "remix_taken_down_still_public"
                for chat_id, message_id, _ in await self.store.reviews_of(post.id):
                    await self.feed.remove(message_id, chat=chat_id)
            paths = await self.store.delete_jobs([job.id for job in jobs])
        self.files.remove(paths)
        for job in jobs:
            self.files.remove_job(job.id)  # a remix composed meanwhile left its folder
            lang = await self.chat.language(job.user_id)
            await self.chat.say(job.chat_id, text(lang, outcome[job.id]))
            log.info(
                "remix taken down job=%d owner=%s outcome=%s",
                job.id,
                uid(job.user_id),
                outcome[job.id],
            )
        result.removed = len(jobs)
        return result

    async def _descendants(self, post_ids: Sequence[int]) -> list[Job]:
        """The remixes of these posts, their remixes, and so on."""
        found: dict[int, Job] = {}
        frontier = list(post_ids)
        while frontier:
            jobs = [j for j in await self.store.remixes_of(frontier) if j.id not in found]
            found.update((job.id, job) for job in jobs)
            posts = [await self.store.post_for_job(job.id) for job in jobs]
            frontier = [post.id for post in posts if post is not None]
        return list(found.values())

    async def cancel_queued(self, original_post_ids: Sequence[int]) -> int:
        """Remixes of these posts still in line end before they are composed: their
        original is not public. Each owner is told, in their language; returns how many."""
        jobs = await self.store.cancel_queued_remixes(original_post_ids)
        for job in jobs:
            lang = await self.chat.language(job.user_id)
            await self.chat.edit_or_say(
                job.chat_id, job.status_message_id, text(lang, "remix_gone")
            )
            log.info("queued remix cancelled job=%d owner=%s", job.id, uid(job.user_id))
        return len(jobs)


@dataclass
class TakenDown:
    """What taking remixes down did: how many went, and how many may still show."""

    removed: int = 0
    still_public: list[str] = field(default_factory=list)  # links the channel kept public
    unconfirmed: int = 0  # never confirmed by Telegram: may be in the channel

    @property
    def left(self) -> int:
        """Remixes that may still show the photo in the channel."""
        return len(self.still_public) + self.unconfirmed

    @property
    def links(self) -> str:
        return "\n".join(self.still_public) or "-"
