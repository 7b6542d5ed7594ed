"""The person's choice: publish it to the channel exactly once, retry, delete, forget.

A job has at most one post (the store enforces it); every change to a job's post
takes that job's lock, so a second tap, the retry loop and a delete never race.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from telegram import Bot
from telegram.error import TelegramError

from bot import keyboards
from bot.chat import Answer, Chat, Person, uid
from bot.feed import Feed
from bot.files import FileStore
from bot.texts import text
from storage import JobStatus, PostStatus, Store

log = logging.getLogger(__name__)

TRACKS = range(3)


class Posting:
    def __init__(self, store: Store, files: FileStore, feed: Feed, chat: Chat, bot: Bot) -> None:
        self.store = store
        self.files = files
        self.feed = feed
        self.chat = chat
        self.bot = bot
        # one lock per job's post, gone once nobody holds or waits for it
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, job_id: int) -> asyncio.Lock:
        lock = self._locks.get(job_id)
        if lock is None:
            lock = self._locks[job_id] = asyncio.Lock()
        return lock

    async def pick(self, who: Person, job_id: int, track_idx: int) -> Answer:
        """Post the chosen track, once, whatever is tapped how often."""
        lang = await self.chat.meet(who)
        job = await self.chat.owned_job(who, job_id, lang)
        if isinstance(job, Answer):
            return job
        if job.status != JobStatus.DELIVERED or track_idx not in TRACKS:
            return Answer(text(lang, "expired"), alert=True)
        async with self.lock(job_id):
            post = await self.store.claim_post(job_id, track_idx, who.id)
            if post.status == PostStatus.POSTED:
                return Answer(text(lang, "already_posted"), alert=True)
            url = await self._publish(post.id)
        return Answer(text(lang, "posted" if url else "post_pending"), alert=url is None)

    async def retry_pending(self) -> int:
        """Post the choices the channel refused earlier (or a restart interrupted)."""
        posted = 0
        for post in await self.store.pending_posts():
            async with self.lock(post.job_id):
                url = await self._publish(post.id)
            if url:
                posted += 1
                job = await self.store.get_job(post.job_id)
                if job is not None:
                    lang = await self.chat.language(job.user_id)
                    await self.chat.say(job.chat_id, text(lang, "post_retry_done"))
        return posted

    async def delete(self, who: Person, post_id: int) -> Answer:
        """Remove one of the person's posts from the channel and the store."""
        lang = await self.chat.meet(who)
        existing = await self.store.get_post(post_id)
        async with self.lock(existing.job_id if existing else 0):
            post = await self.store.delete_post(post_id, who.id)
        if post is None:
            log.warning("foreign delete refused post=%d user=%s", post_id, uid(who.id))
            return Answer(text(lang, "not_yours"), alert=True)
        if post.channel_message_id is not None:
            await self.feed.remove(post.channel_message_id)
        log.info("post deleted post=%d", post.id)
        return Answer(text(lang, "deleted"))

    async def forget(self, who: Person, user_id: int) -> Answer:
        """Delete everything of the person: their posts in the channel, rows and files."""
        lang = await self.chat.language(who.id)
        if user_id != who.id:
            return Answer(text(lang, "not_yours"), alert=True)
        for post in await self.store.user_posts(who.id):
            if post.channel_message_id is not None:
                await self.feed.remove(post.channel_message_id)
        paths = await self.store.forget_user(who.id)
        self.files.remove(paths)
        log.info("person forgotten user=%s files=%d", uid(who.id), len(paths))
        return Answer(text(lang, "forgotten"))

    async def reactions(self, chat_id: int, message_id: int, counts: dict[str, int]) -> None:
        """Telegram's reaction totals on a channel post become its likes."""
        if not self.feed.is_channel(chat_id):
            return
        post = await self.store.set_reactions(message_id, counts)
        if post is not None:
            log.info("likes post=%d likes=%d", post.id, post.likes)

    async def _publish(self, post_id: int) -> str | None:
        """Post to the channel and record it; None if the channel failed (kept pending)."""
        post = await self.store.get_post(post_id)
        if post is None or post.status == PostStatus.POSTED:
            return None
        job = await self.store.get_job(post.job_id)
        user = await self.store.get_user(post.user_id)
        track = await self.store.track(post.job_id, post.track_idx)
        if job is None or user is None or track is None:
            return None
        await self.store.count_post_attempt(post.id)
        try:
            message = await self.feed.publish(post.id, job, track, user)
        except TelegramError as exc:
            log.warning("channel post failed post=%d reason=%s", post.id, exc)
            return None
        await self.store.mark_posted(post.id, message.message_id)
        url = self.feed.url(message.message_id)
        log.info("posted post=%d job=%d channel_message=%d", post.id, job.id, message.message_id)
        if job.result_message_id is not None:
            lang = await self.chat.language(user.id)
            try:
                await self.bot.edit_message_reply_markup(
                    job.chat_id, job.result_message_id, reply_markup=keyboards.link(lang, url)
                )
            except TelegramError as exc:
                log.info("keyboard not replaced job=%d reason=%s", job.id, exc)
        return url
