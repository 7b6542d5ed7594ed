"""Operators decide: posts held for review, and posts taken down after readers' reports.

A held post goes to the operators' chat (``IMMU_REVIEW_CHAT``; without one, each admin's
private chat) as the same media the channel would get, with the decision's buttons. A
decision moves the post's status only from the held one, under the job's lock (the one
``bot.publisher`` keeps), so a second tap, a restart or the owner's /forget or /delete in
between never makes a post that should not exist.
"""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum

from telegram import Bot
from telegram.error import TelegramError

from bot import keyboards
from bot.chat import Answer, Chat, Person, uid
from bot.feed import Feed, Removal
from bot.publisher import Publisher
from bot.remixes import Remixes
from bot.settings import Settings
from bot.texts import language_of, plain, text
from storage import HELD, Post, PostStatus, Store

log = logging.getLogger(__name__)

OPERATORS_LANG = "en"  # the operators' chat is one room: one language
CHOICE, REPORTS = "choice", "reports"  # why a post is in front of the operators


class Decision(StrEnum):
    APPROVE = "approve"  # a post in review goes to the channel
    REJECT = "reject"  # ... or never does
    RESTORE = "restore"  # a post hidden after reports goes back
    REMOVE = "remove"  # ... or stays down for good


_HELD = {
    Decision.APPROVE: PostStatus.REVIEW,
    Decision.REJECT: PostStatus.REVIEW,
    Decision.RESTORE: PostStatus.HIDDEN,
    Decision.REMOVE: PostStatus.HIDDEN,
}
_OWNER_TEXT = {
    Decision.REJECT: "review_declined",
    Decision.RESTORE: "post_restored",
    Decision.REMOVE: "post_removed_for_good",
}
_APPROVED_TEXT = {
    PostStatus.POSTED: "review_approved",
    PostStatus.FAILED: "post_failed",
    PostStatus.UNKNOWN: "post_unknown",
    PostStatus.PENDING: "post_pending",
}


class Review:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        feed: Feed,
        chat: Chat,
        bot: Bot,
        publisher: Publisher,
        remixes: Remixes,
    ) -> None:
        self.settings = settings
        self.store = store
        self.feed = feed
        self.chat = chat
        self.bot = bot
        self.publisher = publisher
        self.remixes = remixes
        self.holds_new_posts = settings.moderation == "review"
        room = _chat_ref(settings.review_chat) if settings.review_chat else None
        self.rooms: list[int | str] = [room] if room is not None else list(settings.admin_ids)

    async def unreachable(self) -> str | None:
        """At start-up: why the operators' chat (IMMU_REVIEW_CHAT) cannot be used, if so."""
        if not self.settings.review_chat:
            return None
        try:
            await self.bot.get_chat(_chat_ref(self.settings.review_chat))
        except TelegramError as exc:
            return f"the operators' chat {self.settings.review_chat} cannot be reached: {exc}"
        return None

    # --- posts in front of the operators ---

    async def submit(self, post: Post, lang: str) -> Answer:
        """A chosen track waits for an operator; call with the job's lock held."""
        if await self.store.reviews_of(post.id):
            return Answer(text(lang, "review_pending"), alert=True)
        await self._send(post, CHOICE)  # if it fails, ``run`` sends it later
        job = await self.store.get_job(post.job_id)
        if job is not None:
            await self.chat.say(job.chat_id, text(lang, "review_waiting"))
        log.info("post held for review post=%d user=%s", post.id, uid(post.user_id))
        return Answer(text(lang, "review_waiting"))

    async def run(self) -> None:
        """Held posts whose operators' message never went out: sent again, now and then."""
        while True:
            try:
                for listed in await self.store.unsent_reviews():
                    async with self.publisher.lock(listed.job_id):
                        post = await self.store.get_post(listed.id)  # withdrawn meanwhile?
                        if (
                            post
                            and post.status in HELD
                            and not await self.store.reviews_of(post.id)
                        ):
                            reason = CHOICE if post.status == PostStatus.REVIEW else REPORTS
                            await self._send(post, reason)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("review resend failed")
            await asyncio.sleep(self.settings.post_retry_s)

    async def _send(self, post: Post, reason: str, reports: int = 0) -> bool:
        """The post's media, caption, a note and the decision's buttons to each room."""
        job = await self.store.get_job(post.job_id)
        user = await self.store.get_user(post.user_id)
        track = await self.store.track(post.job_id, post.track_idx)
        if job is None or user is None or track is None or not self.rooms:
            return False
        lang = OPERATORS_LANG
        if reason == CHOICE:
            note = plain(lang, "review_note", post=post.id, user=post.user_id)
            markup = keyboards.review(lang, post.id)
        else:
            note = plain(lang, "reported_note", count=reports, post=post.id, user=post.user_id)
            markup = keyboards.reported(lang, post.id)
        sent = True
        for room in self.rooms:
            try:
                message = await self.feed.publish(
                    post.id, job, track, user, to=room, note=note, markup=markup
                )
            except TelegramError as exc:
                log.warning("operators' chat refused post=%d reason=%s", post.id, exc)
                sent = False
                continue
            await self.store.add_review(post.id, message.chat.id, message.message_id, reason)
        return sent

    # --- decisions ---

    async def decide(
        self, who: Person, post_id: int, decision: Decision, tapped: tuple[int, int] | None
    ) -> Answer:
        """An operator's tap: the post moves once from its held status, or nothing happens."""
        lang = language_of(who.language_code)
        if who.id not in self.settings.admin_ids:
            log.warning("decision refused post=%d user=%s: not an admin", post_id, uid(who.id))
            return Answer(text(lang, "admins_only"), alert=True)
        post = await self.store.get_post(post_id)
        if post is None:  # deleted or forgotten: its photo must not stay with the operators
            if tapped is not None:
                await self._delete_message(*tapped)
            return Answer(text(lang, "decision_gone"), alert=True)
        outcome: PostStatus | None = None
        async with self.publisher.lock(post.job_id):
            goes_out = decision in (Decision.APPROVE, Decision.RESTORE)
            now = PostStatus.PENDING if goes_out else PostStatus.DECLINED
            moved = await self.store.move_post(post_id, _HELD[decision], now)
            if moved and goes_out:
                outcome = await self.publisher.publish(post_id)
            closed = await self.store.reviews_of(post_id)
        if not moved:
            current = await self.store.get_post(post_id)
            status = current.status if current else "deleted"
            return Answer(text(lang, "decision_taken", status=status), alert=True)
        log.info("decision post=%d decision=%s by=%s", post_id, decision, uid(who.id))
        for chat_id, message_id, _ in closed:
            await self._close(chat_id, message_id)
        key = _APPROVED_TEXT.get(outcome or PostStatus.PENDING, "post_pending")
        if decision != Decision.APPROVE:
            key = _OWNER_TEXT[decision]
        await self.publisher.tell_owner(post, key)
        if decision == Decision.REMOVE:  # remixes show the removed post's photo
            await self.remixes.take_down([post_id])
        return Answer(text(lang, "decided", decision=plain(lang, f"button_{decision}")))

    # --- reports ---

    async def report(self, who: Person, post_id: int) -> Answer:
        """A reader's report; at ``IMMU_REPORTS_TO_HIDE`` the post comes down for a decision."""
        lang = language_of(who.language_code)
        post = await self.store.get_post(post_id)
        if post is None or post.status != PostStatus.POSTED:
            return Answer(text(lang, "report_gone"))
        count = await self.store.add_report(post_id, uid(who.id))  # a hash: readers stay private
        if count is None:
            return Answer(text(lang, "already_reported"))
        log.info("post reported post=%d reports=%d", post_id, count)
        if 0 < self.settings.reports_to_hide <= count:
            await self._take_down(post_id, count)
        return Answer(text(lang, "reported"))

    async def _take_down(self, post_id: int, reports: int) -> None:
        post = await self.store.get_post(post_id)
        if post is None:
            return
        async with self.publisher.lock(post.job_id):
            post = await self.store.get_post(post_id)
            if post is None or post.status != PostStatus.POSTED:
                return  # another report took it down already
            if any(reason == REPORTS for *_, reason in await self.store.reviews_of(post_id)):
                return  # an operator restored it after reports: their decision stands
            message_id = post.channel_message_id
            removal = await self.feed.remove(message_id) if message_id else Removal.DELETED
            if removal == Removal.FAILED:
                log.error("reported post stays public post=%d", post_id)
                return  # the next report tries again
            await self.store.hide_post(post_id)
            await self._send(post, REPORTS, reports)
        log.info("post hidden post=%d reports=%d", post_id, reports)
        await self.publisher.tell_owner(post, "post_hidden")

    # --- the operators' messages ---

    async def tell_operators(self, key: str, **values: object) -> None:
        """A line for the operators' chat (or each admin), in the operators' language."""
        for room in self.rooms:
            await self.chat.say(room, text(OPERATORS_LANG, key, **values))

    async def withdraw(self, post_id: int) -> None:
        """The owner deleted the post or used /forget: its photo leaves the operators' chat
        now, not when an operator next taps it. Call with the job's lock held."""
        for chat_id, message_id, _ in await self.store.reviews_of(post_id):
            if await self.feed.remove(message_id, chat=chat_id) == Removal.FAILED:
                log.error("operators' copy stays post=%d message=%d", post_id, message_id)

    async def _close(self, chat_id: int, message_id: int) -> None:
        try:
            await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except TelegramError as exc:
            log.info("operators' keyboard kept message=%d reason=%s", message_id, exc)

    async def _delete_message(self, chat_id: int, message_id: int) -> None:
        try:
            await self.bot.delete_message(chat_id, message_id)
        except TelegramError as exc:
            log.info("operators' message kept message=%d reason=%s", message_id, exc)


def _chat_ref(room: str) -> int | str:
    room = room.strip()
    if room.lstrip("-").isdigit():
        return int(room)
    return room if room.startswith("@") else f"@{room}"
