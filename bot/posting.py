"""The person's choice: pick a track for the channel, delete a post, forget everything,
and settle a post Telegram never confirmed.

Publishing itself, exactly once, is ``bot.publisher``'s; this module decides what a
person's tap or command means for their posts.
"""

from __future__ import annotations

import logging
import re
from contextlib import AsyncExitStack

from telegram import Message, MessageOriginChannel

from bot.feed import Feed, Removal
from bot.files import FileStore
from bot.pseudonym import uid
from bot.publisher import Publisher
from bot.remixes import Remixes
from bot.review import Review
from bot.telegram.chat import Answer, Chat, Person
from bot.telegram.texts import text
from storage import HELD, JobStatus, PostStatus, Store

log = logging.getLogger(__name__)

TRACKS = range(3)
_REMIX_LINK = re.compile(r"[?&]start=remix-([0-9]{1,12})(?:&|\Z)")  # the post's own button


class Posting:
    def __init__(
        self,
        store: Store,
        files: FileStore,
        feed: Feed,
        chat: Chat,
        publisher: Publisher,
        review: Review,
        remixes: Remixes,
    ) -> None:
        self.store = store
        self.files = files
        self.feed = feed
        self.chat = chat
        self.publisher = publisher
        self.review = review
        self.remixes = remixes

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
        if not await self._original_public(job.remix_post_id):
            return Answer(text(lang, "remix_not_public"), alert=True)
        # a tap that waited behind this post's first try must not post it again: only a
        # post already unconfirmed or failed when the person tapped is asked again
        before = await self.store.post_for_job(job_id)
        asked_again = (
            before is not None
            and before.status in (PostStatus.FAILED, PostStatus.UNKNOWN)
            and not self.publisher.sending(before.id)
        )
        async with self.publisher.lock(job_id):
            current = await self.store.get_job(job_id)  # a Cancel may have taken the lock first
            if current is None or current.status != JobStatus.DELIVERED:
                return Answer(text(lang, "expired"), alert=True)
            first = PostStatus.REVIEW if self.review.holds_new_posts else PostStatus.PENDING
            post = await self.store.claim_post(job_id, track_idx, who.id, first)
            if post.status == PostStatus.POSTED:
                return Answer(text(lang, "already_posted"), alert=True)
            if post.status == PostStatus.REVIEW:
                return await self.review.submit(post, lang)  # once; a second tap is told
            if post.status in HELD or post.status == PostStatus.DECLINED:
                held_key = (
                    "post_declined" if post.status == PostStatus.DECLINED else "review_pending"
                )
                return Answer(text(lang, held_key), alert=True)
            if post.status == PostStatus.UNKNOWN and not asked_again:
                return Answer(text(lang, "post_unknown_popup"), alert=True)
            # a failed post, or an unconfirmed one the person says is not in the channel
            await self.store.repost(post.id)
            outcome = await self.publisher.publish(post.id)
        if outcome is None:
            return Answer(text(lang, "expired"), alert=True)
        if outcome == PostStatus.POSTED:
            return Answer(text(lang, "posted"))
        if outcome == PostStatus.UNKNOWN:  # told in the chat too: a popup is easily missed
            await self.chat.say(job.chat_id, text(lang, "post_unknown"))
        key = {
            PostStatus.FAILED: "post_failed",
            PostStatus.UNKNOWN: "post_unknown_popup",
            PostStatus.DECLINED: "banned",
        }
        return Answer(text(lang, key.get(outcome, "post_pending")), alert=True)

    async def delete(self, who: Person, post_id: int) -> Answer:
        """Remove one of the person's posts from the channel, then from the store; a post
        the channel keeps public stays listed, so the person can see it and try again."""
        lang = await self.chat.meet(who)
        existing = await self.store.get_post(post_id)
        if existing is None or existing.user_id != who.id:
            log.warning("foreign delete refused post=%d user=%s", post_id, uid(who.id))
            return Answer(text(lang, "not_yours"), alert=True)
        async with self.publisher.lock(existing.job_id):
            post = await self.store.get_post(post_id)
            if post is not None and post.status == PostStatus.UNKNOWN:
                # no message id: nothing the bot could delete, and "deleted" would be a lie
                return Answer(text(lang, "delete_unconfirmed"), alert=True)
            removal = Removal.DELETED
            if post is not None and post.channel_message_id is not None:
                removal = await self.feed.remove(post.channel_message_id)
            if removal != Removal.FAILED:
                await self.review.withdraw(post_id)
                await self.store.delete_post(post_id, who.id)
        log.info("post deleted post=%d channel=%s", post_id, removal)
        if removal != Removal.FAILED:  # a remix in line would be of a post nobody sees
            await self.remixes.cancel_queued([post_id])
        key = {Removal.DELETED: "deleted", Removal.EDITED: "delete_edited"}
        return Answer(
            text(lang, key.get(removal, "delete_failed")), alert=removal != Removal.DELETED
        )

    async def forget(self, who: Person, user_id: int) -> Answer:
        """Delete everything of the person: their posts in the channel, others' remixes of
        them, rows and files. What could not be removed is said, never claimed."""
        lang = await self.chat.language(who.id)
        if user_id != who.id:
            return Answer(text(lang, "not_yours"), alert=True)
        public = unconfirmed = 0
        async with AsyncExitStack() as held:
            # every post of theirs held: none is being published while the data goes
            for job_id in sorted(await self.store.job_ids_of(who.id)):
                await held.enter_async_context(self.publisher.lock(job_id))
            posts = await self.store.posts_of(who.id)
            for post in posts:
                if post.status == PostStatus.UNKNOWN:
                    unconfirmed += 1
                elif post.channel_message_id is not None:
                    public += await self.feed.remove(post.channel_message_id) == Removal.FAILED
                await self.review.withdraw(post.id)  # held or reported: the operators' copies
            paths = await self.store.forget_user(who.id)
        self.files.remove(paths)
        # others' remixes carry the person's photo: they go too (their owners are told)
        remixes = await self.remixes.take_down([post.id for post in posts])
        log.info(
            "person forgotten user=%s files=%d remixes=%d still_public=%d unconfirmed=%d "
            "remixes_left=%d",
            uid(who.id), len(paths), remixes.removed, public, unconfirmed, remixes.left,
        )  # fmt: skip
        said = [text(lang, "forgotten")]
        if remixes.left:  # others' remixes of theirs the bot could not take out of the channel
            said.append(text(lang, "forgotten_remixes_left", count=remixes.left))
            await self.review.tell_operators(
                "operators_remixes_left", count=remixes.left, links=remixes.links
            )
        if public:  # never claim a deletion that did not happen
            said.append(text(lang, "delete_failed"))
        if unconfirmed:
            said.append(text(lang, "forgotten_unconfirmed", count=unconfirmed))
            await self.review.tell_operators(
                "operators_unconfirmed_forgotten", count=unconfirmed, user=uid(who.id)
            )
        return Answer("\n".join(said), alert=bool(public or unconfirmed))

    async def _original_public(self, remix_post_id: int | None) -> bool:
        """A remix shows its original's photo: it goes to the channel only while the
        original is there (not hidden after reports, deleted or removed)."""
        if remix_post_id is None:
            return True
        original = await self.store.get_post(remix_post_id)
        return original is not None and original.status == PostStatus.POSTED

    async def settle(self, who: Person, forwarded: Message) -> Answer:
        """The person forwarded a channel post: if it is their own post that Telegram never
        confirmed, the bot learns its message id, and delete, forget, likes and reports
        work on it. Nobody can claim another person's post this way."""
        lang = await self.chat.meet(who)
        origin = forwarded.forward_origin
        if not isinstance(origin, MessageOriginChannel) or not self.feed.is_channel(origin.chat.id):
            return Answer(text(lang, "forward_not_ours"))
        named = _post_named(forwarded)
        post = await self.store.get_post(named) if named is not None else None
        if post is None or post.user_id != who.id:
            log.warning("forward settles nothing user=%s post=%s", uid(who.id), named)
            return Answer(text(lang, "forward_not_yours"))
        async with self.publisher.lock(post.job_id):
            post = await self.store.get_post(post.id)
            # a forward proves the post is in the channel: one still waiting to be posted
            # again (pending, or failed after more tries) is settled too, never sent twice
            if post is None or post.status not in UNSETTLED:
                return Answer(text(lang, "forward_nothing_to_settle"))
            await self.publisher.settle(post, origin.message_id, forwarded)
        return Answer(text(lang, "forward_settled"))


UNSETTLED = (PostStatus.UNKNOWN, PostStatus.PENDING, PostStatus.FAILED)


def _post_named(message: Message) -> int | None:
    """The post a channel message is, by its own remix link (``remix-<post id>``): in its
    caption's signature, which survives a forward, or in its buttons, which Telegram keeps
    on a forward only when all of them are links."""
    links = [entity.url for entity in message.caption_entities if entity.url]
    markup = message.reply_markup
    links += [b.url for row in (markup.inline_keyboard if markup else ()) for b in row if b.url]
    for link in links:
        if found := _REMIX_LINK.search(link):
            return int(found.group(1))
    return None
