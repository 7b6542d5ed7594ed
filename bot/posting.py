"""The person's choice: publish it to the channel exactly once, retry, delete, forget.

A job has at most one post (the store enforces it); every change to a job's post
takes that job's lock, so a second tap, the retry loop and a delete never race.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from telegram import Bot
from telegram.error import BadRequest, TelegramError, TimedOut

from bot import keyboards
from bot.chat import Answer, Chat, Person, uid
from bot.feed import Feed, Removal
from bot.files import FileStore
from bot.likes import count_likes
from bot.texts import text
from storage import HELD, JobStatus, PostStatus, Store

if TYPE_CHECKING:
    from bot.review import Review

log = logging.getLogger(__name__)

TRACKS = range(3)


class Posting:
    def __init__(
        self, store: Store, files: FileStore, feed: Feed, chat: Chat, bot: Bot, max_attempts: int
    ) -> None:
        self.max_attempts = max_attempts  # tries per post before the person is told
        self.store = store
        self.files = files
        self.feed = feed
        self.chat = chat
        self.bot = bot
        # one lock per job's post, gone once nobody holds or waits for it
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self.review: Review | None = None  # set by bot.app: operators see held posts there

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
        if await self.store.is_banned(who.id):
            return Answer(text(lang, "banned"), alert=True)
        held = self.review is not None and self.review.holds_new_posts
        async with self.lock(job_id):
            first = PostStatus.REVIEW if held else PostStatus.PENDING
            post = await self.store.claim_post(job_id, track_idx, who.id, first)
            if post.status == PostStatus.POSTED:
                return Answer(text(lang, "already_posted"), alert=True)
            if post.status == PostStatus.REVIEW and self.review is not None:
                return await self.review.submit(post, lang)  # once; a second tap is told
            if post.status in HELD or post.status == PostStatus.DECLINED:
                held_key = (
                    "post_declined" if post.status == PostStatus.DECLINED else "review_pending"
                )
                return Answer(text(lang, held_key), alert=True)
            await self.store.repost(post.id)  # a failed or unconfirmed post: asked again
            outcome = await self._publish(post.id)
        if outcome is None:
            return Answer(text(lang, "expired"), alert=True)
        if outcome == PostStatus.POSTED:
            return Answer(text(lang, "posted"))
        key = {PostStatus.FAILED: "post_failed", PostStatus.UNKNOWN: "post_unknown"}
        return Answer(text(lang, key.get(outcome, "post_pending")), alert=True)

    async def cancel(self, who: Person, job_id: int) -> Answer:
        """Cancel a job still in line, or tracks nobody chose; not a job being composed."""
        lang = await self.chat.meet(who)
        job = await self.chat.owned_job(who, job_id, lang)
        if isinstance(job, Answer):
            return job
        if job.status == JobStatus.QUEUED and await self.store.cancel_if(job_id, JobStatus.QUEUED):
            await self.chat.edit_or_say(job.chat_id, job.status_message_id, text(lang, "cancelled"))
            return Answer(text(lang, "cancelled"))
        async with self.lock(job_id):  # never between a pick and its post
            if await self.store.post_for_job(job_id) is None and await self.store.cancel_if(
                job_id, JobStatus.DELIVERED
            ):
                await self.chat.edit_or_say(
                    job.chat_id, job.result_message_id, text(lang, "cancelled")
                )
                return Answer(text(lang, "cancelled"))
        if job.status == JobStatus.RUNNING:
            return Answer(text(lang, "cannot_cancel"), alert=True)
        return Answer(text(lang, "expired"), alert=True)

    async def retry_pending(self) -> int:
        """Post the choices the channel refused earlier (or a restart interrupted)."""
        posted = 0
        for post in await self.store.pending_posts():
            async with self.lock(post.job_id):
                outcome = await self._publish(post.id)
            if outcome is None or outcome == PostStatus.PENDING:
                continue
            posted += outcome == PostStatus.POSTED
            job = await self.store.get_job(post.job_id)
            if job is not None:
                key = {PostStatus.POSTED: "post_retry_done", PostStatus.FAILED: "post_failed"}
                lang = await self.chat.language(job.user_id)
                await self.chat.say(job.chat_id, text(lang, key.get(outcome, "post_unknown")))
        return posted

    async def delete(self, who: Person, post_id: int) -> Answer:
        """Remove one of the person's posts from the channel, then from the store; a post
        the channel keeps public stays listed, so the person can see it and try again."""
        lang = await self.chat.meet(who)
        existing = await self.store.get_post(post_id)
        if existing is None or existing.user_id != who.id:
            log.warning("foreign delete refused post=%d user=%s", post_id, uid(who.id))
            return Answer(text(lang, "not_yours"), alert=True)
        async with self.lock(existing.job_id):
            post = await self.store.get_post(post_id)
            removal = Removal.DELETED
            if post is not None and post.channel_message_id is not None:
                removal = await self.feed.remove(post.channel_message_id)
            if removal != Removal.FAILED:
                if self.review is not None:
                    await self.review.withdraw(post_id)
                await self.store.delete_post(post_id, who.id)
        log.info("post deleted post=%d channel=%s", post_id, removal)
        key = {Removal.DELETED: "deleted", Removal.EDITED: "delete_edited"}
        return Answer(
            text(lang, key.get(removal, "delete_failed")), alert=removal != Removal.DELETED
        )

    async def forget(self, who: Person, user_id: int) -> Answer:
        """Delete everything of the person: their posts in the channel, rows and files."""
        lang = await self.chat.language(who.id)
        if user_id != who.id:
            return Answer(text(lang, "not_yours"), alert=True)
        async with AsyncExitStack() as held:
            # every post of theirs held: none is being published while the data goes
            for job_id in sorted(await self.store.job_ids_of(who.id)):
                await held.enter_async_context(self.lock(job_id))
            public = 0
            for post in await self.store.user_posts(who.id, tuple(PostStatus)):
                if post.status == PostStatus.POSTED and post.channel_message_id is not None:
                    public += await self.feed.remove(post.channel_message_id) == Removal.FAILED
                if self.review is not None:  # held or reported: copies with the operators
                    await self.review.withdraw(post.id)
            paths = await self.store.forget_user(who.id)
        self.files.remove(paths)
        if public:  # never claim a deletion that did not happen
            return Answer(text(lang, "forgotten") + "\n" + text(lang, "delete_failed"), alert=True)
        log.info("person forgotten user=%s files=%d", uid(who.id), len(paths))
        return Answer(text(lang, "forgotten"))

    async def reactions(self, chat_id: int, message_id: int, counts: dict[str, int]) -> None:
        """Telegram's reaction totals on a channel post: all stored, the positive ones
        (``IMMU_LIKE_REACTIONS``) are its likes."""
        if not self.feed.is_channel(chat_id):
            return
        likes = count_likes(counts, self.feed.settings.like_reactions)
        post = await self.store.set_reactions(message_id, counts, likes)
        if post is not None:
            log.info("likes post=%d likes=%d reactions=%d", post.id, likes, sum(counts.values()))

    async def publish(self, post_id: int) -> PostStatus | None:
        """One try to post a pending post (an operator let it go); the job's lock held."""
        return await self._publish(post_id)

    async def _publish(self, post_id: int) -> PostStatus | None:
        """One try to post to the channel, recorded; the post's status after it. None if
        there was nothing to do: the post is gone, or no longer waiting (another task,
        which held the lock first, posted it). Call with the job's lock held."""
        post = await self.store.get_post(post_id)
        if post is None or post.status != PostStatus.PENDING:
            return None
        job = await self.store.get_job(post.job_id)
        user = await self.store.get_user(post.user_id)
        track = await self.store.track(post.job_id, post.track_idx)
        if job is None or user is None or track is None:
            return None
        attempt = await self.store.count_post_attempt(post.id)
        try:
            message = await self.feed.publish(post.id, job, track, user)
        except TimedOut:
            # Telegram may have posted it: a second post would be worse than asking
            log.warning("channel post unconfirmed post=%d; the person decides", post.id)
            await self.store.set_post_status(post.id, PostStatus.UNKNOWN)
            return PostStatus.UNKNOWN
        except TelegramError as exc:
            if isinstance(exc, BadRequest) and not _operator_can_fix(exc):
                # a wrong file, a caption Telegram refuses, no such chat: again would fail
                log.error("channel post refused post=%d job=%d reason=%s", post.id, job.id, exc)
                await self.store.set_post_status(post.id, PostStatus.FAILED)
                return PostStatus.FAILED
            # an outage, rights not granted yet, rate limits: try again later
            if attempt >= self.max_attempts:
                log.error(
                    "channel post gave up post=%d attempts=%d reason=%s", post.id, attempt, exc
                )
                await self.store.set_post_status(post.id, PostStatus.FAILED)
                return PostStatus.FAILED
            log.warning("channel post failed post=%d attempt=%d reason=%s", post.id, attempt, exc)
            return PostStatus.PENDING
        await self.store.mark_posted(post.id, message.message_id)
        url = self.feed.url(message.message_id)
        log.info("posted post=%d job=%d channel_message=%d", post.id, job.id, message.message_id)
        if job.result_message_id is not None:
            lang = await self.chat.language(user.id)
            link = keyboards.link(lang, url)
            await self.chat.set_keyboard(job.chat_id, job.result_message_id, link)
        return PostStatus.POSTED


def _operator_can_fix(error: BadRequest) -> bool:
    """Telegram answers 400 when the bot lacks rights in the channel: an operator grants
    them, and the post goes out then."""
    reason = str(error).lower()
    return any(words in reason for words in ("rights", "administrator", "not a member"))
