"""Operators decide: posts held for review, and posts taken down after readers' reports.

A held post goes to the operators' chat (``IMMU_REVIEW_CHAT``; without one, each admin's
private chat) as the same media the channel would get, with the decision's buttons. A
decision moves the post's status only from the held one, under the job's lock (the one
``bot.publisher`` keeps), so a second tap, a restart or the owner's /forget or /delete in
between never makes a post that should not exist. A banned author's post never goes out.

Reports never keep a post down without an operator: with no operator (no
``IMMU_ADMIN_IDS``) they are only counted; with operators, a post leaves the channel only
once its operators' copy is out, and comes back by itself if nobody decided within
``IMMU_REPORT_REVIEW_H``. A banned person's reports never count.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.feed import Feed, Removal
from bot.pseudonym import uid
from bot.publisher import Publisher
from bot.remixes import Remixes
from bot.settings import Settings
from bot.telegram import keyboards
from bot.telegram.chat import Answer, Chat, Person, chat_ref
from bot.telegram.texts import language_of, plain, text
from bot.telegram.transport import NotSent
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
_RESTORED_TEXT = {**_APPROVED_TEXT, PostStatus.POSTED: "post_restored"}
_BACK_TEXT = {**_APPROVED_TEXT, PostStatus.POSTED: "post_back_unreviewed"}


@dataclass(frozen=True)
class Concluded:
    """A held post moved once: where publishing it left it, or declined for a ban."""

    outcome: PostStatus | None  # None: nothing was published (declined, or nothing to do)
    owner_banned: bool


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
        # only admins decide: without one, a post hidden after reports would stay down for good
        self.has_operators = bool(settings.admin_ids)
        room = chat_ref(settings.review_chat) if settings.review_chat else None
        self.rooms: list[int | str] = [room] if room is not None else list(settings.admin_ids)

    async def unreachable(self) -> str | None:
        """At start-up: why the operators' chat (IMMU_REVIEW_CHAT) cannot be used, if so."""
        if not self.settings.review_chat:
            return None
        try:
            await self.bot.get_chat(chat_ref(self.settings.review_chat))
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
        """Now and then: held posts whose operators' message never went out are sent
        again, and posts hidden after reports that nobody decided on come back."""
        while True:
            try:
                await self._bring_back_unreviewed()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bringing back unreviewed posts failed")
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

    async def _send(self, post: Post, reason: str, reports: int = 0) -> int:
        """The post's media, caption, a note and the decision's buttons to each room;
        how many rooms got it."""
        job = await self.store.get_job(post.job_id)
        user = await self.store.get_user(post.user_id)
        track = await self.store.track(post.job_id, post.track_idx)
        if job is None or user is None or track is None or not self.rooms:
            return 0
        lang = OPERATORS_LANG
        if reason == CHOICE:
            note = plain(lang, "review_note", post=post.id, user=post.user_id)
            markup = keyboards.review(lang, post.id)
        else:
            note = plain(lang, "reported_note", count=reports, post=post.id, user=post.user_id)
            markup = keyboards.reported(lang, post.id)
        sent = 0
        for room in self.rooms:
            try:
                prepared = await self.feed.prepare(
                    post.id, job, track, user, to=room, note=note, markup=markup
                )
            except Exception as exc:  # a file gone: nothing to show the operators
                log.error("operators' copy not prepared post=%d reason=%s", post.id, exc)
                return sent
            try:
                message = await self.feed.send(prepared)
            except (NotSent, RetryAfter, BadRequest, Forbidden) as exc:  # surely not there
                log.warning("operators' chat refused post=%d reason=%s", post.id, exc)
                continue
            except Exception as exc:  # maybe there: recorded, so it is never sent again
                log.warning("operators' copy unconfirmed post=%d reason=%s", post.id, exc)
                await self.store.add_review(post.id, _room_id(room), UNCONFIRMED, reason)
                sent += 1
                continue
            await self.store.add_review(post.id, message.chat.id, message.message_id, reason)
            sent += 1
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
        goes_out = decision in (Decision.APPROVE, Decision.RESTORE)
        concluded = await self._conclude(post, _HELD[decision], goes_out)
        if concluded is None or concluded.owner_banned:
            if goes_out and await self.store.is_banned(post.user_id):  # the ban declined it
                return Answer(text(lang, "decision_owner_banned", user=post.user_id), alert=True)
            current = await self.store.get_post(post_id)
            status = current.status if current else "deleted"
            return Answer(text(lang, "decision_taken", status=status), alert=True)
        log.info("decision post=%d decision=%s by=%s", post_id, decision, uid(who.id))
        key = _APPROVED_TEXT.get(concluded.outcome or PostStatus.PENDING, "post_pending")
        if decision == Decision.RESTORE:  # "back in the channel" only if it is
            key = _RESTORED_TEXT.get(concluded.outcome or PostStatus.PENDING, "post_pending")
        elif decision != Decision.APPROVE:
            key = _OWNER_TEXT[decision]
        await self.publisher.tell_owner(post, key)
        if decision == Decision.REMOVE:  # remixes show the removed post's photo
            remixes = await self.remixes.take_down([post_id])
            if remixes.left:
                await self.tell_operators(
                    "operators_remixes_left", count=remixes.left, links=remixes.links
                )
        return Answer(text(lang, "decided", decision=plain(lang, f"button_{decision}")))

    async def _conclude(self, post: Post, held: PostStatus, goes_out: bool) -> Concluded | None:
        """Move a held post once, from ``held``: back out through the publisher, or
        declined (also when its author was banned meanwhile); the operators' copies lose
        their buttons. None if it was not held any more (decided already, or withdrawn)."""
        async with self.publisher.lock(post.job_id):
            banned = goes_out and await self.store.is_banned(post.user_id)
            now = PostStatus.PENDING if goes_out and not banned else PostStatus.DECLINED
            if not await self.store.move_post(post.id, held, now):
                return None
            outcome = await self.publisher.publish(post.id) if now == PostStatus.PENDING else None
            copies = await self.store.reviews_of(post.id)
        if banned:
            log.info("held post of a banned person declined post=%d", post.id)
        await self._close_all(copies)
        return Concluded(outcome, banned)

    async def _bring_back_unreviewed(self) -> None:
        """Posts hidden after reports that no operator decided on within
        ``IMMU_REPORT_REVIEW_H`` go back to the channel: reports alone keep nothing down."""
        hours = self.settings.report_review_h
        for post in await self.store.hidden_before(datetime.now(UTC) - timedelta(hours=hours)):
            concluded = await self._conclude(post, PostStatus.HIDDEN, goes_out=True)
            if concluded is None or concluded.owner_banned:
                continue  # an operator decided meanwhile, or a ban keeps it out
            log.info("unreviewed post back post=%d outcome=%s", post.id, concluded.outcome)
            await self.tell_operators("operators_report_expired", post=post.id, hours=f"{hours:g}")
            key = _BACK_TEXT.get(concluded.outcome or PostStatus.PENDING, "post_pending")
            await self.publisher.tell_owner(post, key)

    # --- reports ---

    async def report(self, who: Person, post_id: int) -> Answer:
        """A reader's report; at ``IMMU_REPORTS_TO_HIDE`` the post comes down for a decision,
        where there is an operator to make it. Anyone but a banned person counts: Telegram
        tells a bot nothing of an account's age, and what reports can do is bounded."""
        lang = language_of(who.language_code)
        post = await self.store.get_post(post_id)
        if post is None or post.status != PostStatus.POSTED:
            return Answer(text(lang, "report_gone"))
        if await self.store.is_banned(who.id):
            log.info("report of a banned person not counted post=%d user=%s", post_id, uid(who.id))
            return Answer(text(lang, "report_banned"))
        count = await self.store.add_report(post_id, uid(who.id))  # a hash: readers stay private
        if count is None:
            return Answer(text(lang, "already_reported"))
        log.info("post reported post=%d reports=%d", post_id, count)
        if not self.has_operators:  # nobody could restore it: counted for /stats, never hidden
            return Answer(text(lang, "report_kept"))
        if 0 < self.settings.reports_to_hide <= count:
            await self._take_down(post_id, count)
        return Answer(text(lang, "reported"))

    async def _take_down(self, post_id: int, reports: int) -> None:
        """The operators get the post first; only then it leaves the channel. A post no
        operator was told about stays public: the next report tries again."""
        post = await self.store.get_post(post_id)
        if post is None:
            return
        async with self.publisher.lock(post.job_id):
            post = await self.store.get_post(post_id)
            if post is None or post.status != PostStatus.POSTED:
                return  # another report took it down already
            if post.hidden_at is not None:
                return  # reports took it down once and it came back: that stands
            if not await self._send(post, REPORTS, reports):
                log.error("reported post stays public post=%d: no operator was told", post_id)
                return
            message_id = post.channel_message_id
            removal = await self.feed.remove(message_id) if message_id else Removal.DELETED
            if removal == Removal.FAILED:
                log.error("reported post stays public post=%d", post_id)
                await self.withdraw(post_id)  # no buttons for a post that is still public
                await self.store.drop_reviews(post_id)
                return
            await self.store.hide_post(post_id)
        log.info("post hidden post=%d reports=%d", post_id, reports)
        await self.publisher.tell_owner(post, "post_hidden")
        await self.remixes.cancel_queued([post_id])  # composed from a post nobody may see

    # --- the operators' messages ---

    async def tell_operators(self, key: str, **values: object) -> None:
        """A line for the operators' chat (or each admin), in the operators' language."""
        for room in self.rooms:
            await self.chat.say(room, text(OPERATORS_LANG, key, **values))

    async def withdraw(self, post_id: int) -> None:
        """The owner deleted the post or used /forget: its photo leaves the operators' chat
        now, not when an operator next taps it. Call with the job's lock held."""
        for chat_id, message_id, _ in await self.store.reviews_of(post_id):
            if message_id == UNCONFIRMED:  # never confirmed: nothing the bot could delete
                log.warning("operators' copy unconfirmed, not removable post=%d", post_id)
                continue
            if await self.feed.remove(message_id, chat=chat_id) == Removal.FAILED:
                log.error("operators' copy stays post=%d message=%d", post_id, message_id)

    async def close_copies(self, post_id: int) -> None:
        """The operators' copies of a post that is decided now lose their buttons."""
        await self._close_all(await self.store.reviews_of(post_id))

    async def _close_all(self, copies: list[tuple[int, int, str]]) -> None:
        for chat_id, message_id, _ in copies:
            await self._close(chat_id, message_id)

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


UNCONFIRMED = 0  # the message id of an operators' copy Telegram never confirmed


def _room_id(room: int | str) -> int:
    """A room's numeric id for the record; an @name's copy, unconfirmed, has none."""
    return room if isinstance(room, int) else 0
