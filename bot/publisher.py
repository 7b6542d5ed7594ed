"""Publish a post to the channel exactly once, and retry the posts still pending.

A job has at most one post (the store enforces it); every change to a job's post takes
that job's lock (``Publisher.lock``), so a second tap, the retry loop, an operator's
decision and a delete never race.

Exactly once rests on knowing whether Telegram carried a call out. Only three failures
prove it did not: the request never reached Telegram (``NotSent``), a rate limit
(``RetryAfter``), or a refusal (a 4xx). Those are tried again. After a 5xx, a reset or
a timeout, Telegram may have posted it: the post becomes UNKNOWN and is never posted
again by itself. Bots get no update for their own channel posts, and no edit can test
safely whether a message exists, so the person settles it: a forward of the channel
post gives the bot its message id (``settle``); a tap on the track posts it, once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref

from telegram import Message
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter

from bot.feed import Feed, Prepared, carried
from bot.pseudonym import uid
from bot.telegram import keyboards
from bot.telegram.chat import Chat
from bot.telegram.texts import text
from bot.telegram.transport import NotSent
from storage import Post, PostStatus, Store

log = logging.getLogger(__name__)

_CHANNEL_RIGHTS = re.compile(r"rights|administrator|not a member|not enough", re.I)


class Publisher:
    def __init__(self, store: Store, feed: Feed, chat: Chat, max_attempts: int) -> None:
        self.store = store
        self.feed = feed
        self.chat = chat
        self.max_attempts = max_attempts  # tries per post before the person is told
        # one lock per job's post, gone once nobody holds or waits for it
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._sending: set[int] = set()

    def lock(self, job_id: int) -> asyncio.Lock:
        lock = self._locks.get(job_id)
        if lock is None:
            lock = self._locks[job_id] = asyncio.Lock()
        return lock

    async def publish(self, post_id: int) -> PostStatus | None:
        """One try to post a pending post to the channel, recorded; the post's status
        after it. None if there was nothing to do: the post is gone, no longer waiting
        (another task posted it), or it is a remix whose original is not public now.
        DECLINED if its owner is banned. Call with the job's lock held."""
        post = await self.store.get_post(post_id)
        if post is None or post.status != PostStatus.PENDING:
            return None
        if await self._refused_for_a_ban(post):
            return PostStatus.DECLINED
        job = await self.store.get_job(post.job_id)
        user = await self.store.get_user(post.user_id)
        track = await self.store.track(post.job_id, post.track_idx)
        if job is None or user is None or track is None:
            return None
        if job.remix_post_id is not None:  # a remix shows its original's photo
            original = await self.store.get_post(job.remix_post_id)
            if original is None:
                log.info("remix of a deleted post not published post=%d", post.id)
                await self.store.set_post_status(post.id, PostStatus.FAILED)
                return PostStatus.FAILED
            if original.status != PostStatus.POSTED:
                return None  # hidden or held for now: it waits until the original is back
        attempt = await self.store.count_post_attempt(post.id)
        try:
            prepared = await self.feed.prepare(post.id, job, track, user)
        except Exception as exc:  # a file gone, ffmpeg failing: nothing reached Telegram
            log.error(
                "channel post not prepared post=%d job=%d reason=%s: %s",
                post.id, job.id, type(exc).__name__, exc,
            )  # fmt: skip
            await self.store.set_post_status(post.id, PostStatus.FAILED)
            return PostStatus.FAILED
        if await self._refused_for_a_ban(post):  # banned while the video was being made
            return PostStatus.DECLINED
        # what the caption says of its owner, kept with the post: a name or words about the
        # photo turned on later, or left out of the caption (too long, a name that is only
        # a link), never reach it on the pages or in shares
        await self.store.set_post_shown(post.id, named=prepared.named, described=prepared.described)
        # in flight: a crash or a shutdown during the send leaves the post unconfirmed (and
        # its owner is told at the next start), never pending for a second copy
        await self.store.set_post_status(post.id, PostStatus.UNKNOWN)
        await self.store.set_meta(_in_flight(post.id), str(post.user_id))
        self._sending.add(post.id)
        try:
            outcome = await self._send(post, job.id, attempt, prepared)
        finally:
            self._sending.discard(post.id)
        await self.store.delete_meta(_in_flight(post.id))
        return outcome

    def sending(self, post_id: int) -> bool:
        """True while the post is on its way to Telegram: unconfirmed only for a moment."""
        return post_id in self._sending

    async def _send(self, post: Post, job_id: int, attempt: int, prepared: Prepared) -> PostStatus:
        """The one send of a post, and what it proves; the post's status recorded."""
        try:
            message = await self.feed.send(prepared)
        except (NotSent, RetryAfter) as exc:  # provably not posted: again later
            return await self._not_yet(post, attempt, exc)
        except (BadRequest, Forbidden, InvalidToken) as exc:  # refused: not posted
            if isinstance(exc, BadRequest) and not _CHANNEL_RIGHTS.search(str(exc)):
                # a wrong file, a caption Telegram refuses, no such chat: again would fail
                log.error("channel post refused post=%d job=%d reason=%s", post.id, job_id, exc)
                await self.store.set_post_status(post.id, PostStatus.FAILED)
                return PostStatus.FAILED
            return await self._not_yet(post, attempt, exc)  # rights an operator can grant
        except Exception as exc:  # a 5xx, a reset, a timeout, an answer we cannot read
            # Telegram may have posted it: a second post would be worse than asking
            log.warning(
                "channel post unconfirmed post=%d job=%d reason=%s: %s; the person decides",
                post.id, job_id, type(exc).__name__, exc,
            )  # fmt: skip
            return PostStatus.UNKNOWN  # recorded before the send
        await self._posted(post, message)
        return PostStatus.POSTED

    async def recover(self) -> int:
        """At start: posts whose send a crash or a shutdown interrupted are unconfirmed;
        their owners hear it now. Returns how many."""
        told = 0
        for key in await self.store.meta_keys(IN_FLIGHT):
            post = await self.store.get_post(int(key.removeprefix(IN_FLIGHT)))
            if post is not None and post.status == PostStatus.UNKNOWN:
                log.warning("channel post interrupted post=%d; the person decides", post.id)
                await self.tell_owner(post, "post_unknown")
                told += 1
            await self.store.delete_meta(key)
        return told

    async def retry_pending(self) -> int:
        """Post the choices the channel refused earlier (or a restart interrupted); a
        post that fails, for whatever reason, fails alone. Returns how many went out."""
        posted = 0
        for post in await self.store.pending_posts():
            try:
                async with self.lock(post.job_id):
                    outcome = await self.publish(post.id)
                if outcome is None or outcome == PostStatus.PENDING:
                    continue
                posted += outcome == PostStatus.POSTED
                await self.tell_owner(post, _OUTCOME_TEXT[outcome])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pending post failed post=%d; going on", post.id)
        return posted

    async def settle(
        self, post: Post, channel_message_id: int, copy: Message | None = None
    ) -> None:
        """An unconfirmed post is in the channel after all (its owner forwarded it): it is
        a post like any other from now on. ``copy``, the forward, carries its file, and its
        caption says what the message in the channel shows of its owner: the flags of a
        later try that never went out are not that message's. Without it, neither the
        name nor the photo's words. Call with the job's lock held."""
        named, described = carried(copy.caption) if copy is not None else (False, False)
        await self.store.set_post_shown(post.id, named=named, described=described)
        await self.store.mark_posted(post.id, channel_message_id)
        if copy is not None:
            await self._keep_file(post, copy)
        log.info("unconfirmed post settled post=%d channel_message=%d", post.id, channel_message_id)
        await self._link(post, channel_message_id)

    async def tell_owner(self, post: Post, key: str) -> None:
        job = await self.store.get_job(post.job_id)
        if job is not None:
            lang = await self.chat.language(post.user_id)
            await self.chat.say(job.chat_id, text(lang, key))

    async def _refused_for_a_ban(self, post: Post) -> bool:
        """A banned person's post never goes out: declined."""
        if not await self.store.is_banned(post.user_id):
            return False
        log.info("post of a banned person not published post=%d", post.id)
        await self.store.set_post_status(post.id, PostStatus.DECLINED)
        return True

    async def _not_yet(self, post: Post, attempt: int, exc: Exception) -> PostStatus:
        """Not posted, for sure: pending again, or failed once the tries are used up."""
        if attempt < self.max_attempts:
            await self.store.set_post_status(post.id, PostStatus.PENDING)
        if attempt >= self.max_attempts:
            log.error("channel post gave up post=%d attempts=%d reason=%s", post.id, attempt, exc)
            await self.store.set_post_status(post.id, PostStatus.FAILED)
            return PostStatus.FAILED
        log.warning("channel post failed post=%d attempt=%d reason=%s", post.id, attempt, exc)
        return PostStatus.PENDING

    async def _posted(self, post: Post, message: Message) -> None:
        await self.store.mark_posted(post.id, message.message_id)
        await self._keep_file(post, message)
        log.info(
            "posted post=%d job=%d user=%s channel_message=%d",
            post.id, post.job_id, uid(post.user_id), message.message_id,
        )  # fmt: skip
        await self._link(post, message.message_id)

    async def _keep_file(self, post: Post, message: Message) -> None:
        """The post's file as Telegram keeps it, for inline shares with no upload."""
        if message.audio is not None:
            await self.store.set_post_file(post.id, message.audio.file_id, "audio")
        elif message.video is not None:
            await self.store.set_post_file(post.id, message.video.file_id, "video")

    async def _link(self, post: Post, channel_message_id: int) -> None:
        """The person's choice keyboard becomes the post's link."""
        job = await self.store.get_job(post.job_id)
        if job is not None and job.result_message_id is not None:
            lang = await self.chat.language(post.user_id)
            link = keyboards.link(lang, self.feed.url(channel_message_id))
            await self.chat.set_keyboard(job.chat_id, job.result_message_id, link)


IN_FLIGHT = "sending:"  # a meta key per post being sent: what a crash interrupted


def _in_flight(post_id: int) -> str:
    return f"{IN_FLIGHT}{post_id}"


_OUTCOME_TEXT = {
    PostStatus.POSTED: "post_retry_done",
    PostStatus.FAILED: "post_failed",
    PostStatus.UNKNOWN: "post_unknown",
    PostStatus.DECLINED: "banned",
}
