"""What keeps the public feed clean before anything is composed: the photo filter and bans.

``IMMU_MODERATION=auto`` screens each photo with an image classifier (``pipeline.safety``)
in a thread, loaded once at start; the decision is logged with a hashed id, never the
photo. Bans live in the store, so they survive restarts; admission refuses a banned
person's photos (``bot.admission``) and choices, their posts never reach the channel
(``bot.publisher``, ``bot.review``), their reports stop counting, and ``/ban --purge``
also takes their posts down.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.feed import Feed, Removal
from bot.pseudonym import uid
from bot.publisher import Publisher
from bot.remixes import Remixes, TakenDown
from bot.review import Review
from bot.settings import Settings
from bot.telegram.chat import Answer, Chat, Person
from bot.telegram.texts import text
from storage import HELD, PostStatus, Store

if TYPE_CHECKING:
    from pipeline.safety import SafetyClassifier

log = logging.getLogger(__name__)

USER_ID = re.compile(r"^[0-9]{1,15}\Z")  # a Telegram user id, ASCII digits, bounded
PURGE = "--purge"
WAITING = (PostStatus.PENDING, *HELD)  # a person's posts that may still go out


class ScreeningFailed(Exception):
    """The photo classifier failed on a photo: neither allowed nor refused."""


class Moderation:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        feed: Feed,
        chat: Chat,
        publisher: Publisher,
        review: Review,
        remixes: Remixes,
    ) -> None:
        self.settings = settings
        self.store = store
        self.feed = feed
        self.chat = chat
        self.publisher = publisher
        self.review = review
        self.remixes = remixes
        self._classifier: SafetyClassifier | None = None
        self._screening = asyncio.Semaphore(settings.max_decodes)  # CPU threads, bounded

    async def start(self) -> None:
        """Load the photo classifier once, only when photos are screened."""
        if self.settings.moderation != "auto":
            return
        # imported here: the classifier loads torch, which a bot without it never needs
        from pipeline.device import pick_device
        from pipeline.safety import SafetyClassifier

        device = pick_device(self.settings.device)
        self._classifier = await asyncio.to_thread(
            SafetyClassifier, self.settings.safety_model, device=device
        )
        log.info("safety model loaded model=%s device=%s", self.settings.safety_model, device)

    # --- the photo filter ---

    async def allows(self, who: Person, photo: bytes) -> bool:
        """False for a photo the classifier finds unsafe (the caller tells the person);
        raises ``ScreeningFailed`` when the classifier itself fails."""
        if self._classifier is None:
            return True
        try:
            async with self._screening:
                score = await asyncio.to_thread(self._classifier.score, photo)
        except Exception as exc:  # a broken model, no memory left ...: nothing was judged
            log.error(
                "photo screening failed user=%s reason=%s: %s", uid(who.id), type(exc).__name__, exc
            )
            raise ScreeningFailed from exc
        refused = score.unsafe >= self.settings.safety_threshold
        log.info(
            "photo screened user=%s label=%s score=%.3f verdict=%s",
            uid(who.id), score.label, score.unsafe, "refused" if refused else "allowed",
        )  # fmt: skip
        return not refused

    # --- bans ---

    async def ban(self, who: Person, args: list[str]) -> Answer:
        """/ban <id> [--purge]: no new photos or posts; queued jobs end; --purge takes
        their posts out of the channel and the store."""
        lang = await self.chat.meet(who)
        if who.id not in self.settings.admin_ids:
            return Answer(text(lang, "admin_only"))
        target = _target(args)
        if target is None or any(arg not in (PURGE, args[0]) for arg in args):
            return Answer(text(lang, "ban_usage"))
        fresh = await self.store.ban(target, who.id)
        reports = await self.store.drop_reports_by(uid(target))  # theirs never count
        ended = await self.store.cancel_queued(target)
        for job in ended:
            owner_lang = await self.chat.language(target)
            await self.chat.edit_or_say(
                job.chat_id, job.status_message_id, text(owner_lang, "banned_queued")
            )
        declined = await self._decline_waiting(target)
        purge = await self._purge(target) if PURGE in args else Purge()
        log.info(
            "banned user=%s by=%s jobs_ended=%d posts_declined=%d posts_removed=%d unconfirmed=%d "
            "reports_dropped=%d",
            uid(target), uid(who.id), len(ended), declined, purge.removed, purge.unconfirmed,
            reports,
        )  # fmt: skip
        key = "ban_done" if fresh else "ban_already"
        said = text(lang, key, user=target, jobs=len(ended), posts=purge.removed)
        if purge.still_public:
            said += "\n" + text(lang, "purge_still_public", count=purge.still_public)
        if purge.unconfirmed:  # never counted as removed: they may be in the channel
            said += "\n" + text(lang, "purge_unconfirmed", count=purge.unconfirmed)
        if left := purge.remixes.left:  # others' remixes: their rows are gone, remove by hand
            said += "\n" + text(
                lang, "operators_remixes_left", count=left, links=purge.remixes.links
            )
        return Answer(said)

    async def unban(self, who: Person, args: list[str]) -> Answer:
        """/unban <id>: the person may send photos again."""
        lang = await self.chat.meet(who)
        if who.id not in self.settings.admin_ids:
            return Answer(text(lang, "admin_only"))
        target = _target(args)
        if target is None or len(args) != 1:
            return Answer(text(lang, "ban_usage"))
        lifted = await self.store.unban(target)
        log.info("unbanned user=%s by=%s lifted=%s", uid(target), uid(who.id), lifted)
        return Answer(text(lang, "unban_done" if lifted else "unban_none", user=target))

    async def _decline_waiting(self, user_id: int) -> int:
        """The person's posts not out yet (pending, held for review, hidden after reports)
        never go out. Each under its job's lock: a post being published right now is
        finished first. The operators' copies lose their buttons. Returns how many."""
        declined = 0
        for post in await self.store.posts_of(user_id):
            if post.status not in WAITING:
                continue
            async with self.publisher.lock(post.job_id):
                current = await self.store.get_post(post.id)
                if current is None or current.status not in WAITING:
                    continue
                await self.store.move_post(post.id, current.status, PostStatus.DECLINED)
            await self.review.close_copies(post.id)
            declined += 1
        return declined

    async def _purge(self, user_id: int) -> Purge:
        """Every post of the person out of the channel and the store, and others' remixes
        of them. A post the channel keeps public stays recorded, so a second /ban tries
        again; one Telegram never confirmed has no message id to delete: counted apart."""
        purge = Purge()
        posts = await self.store.posts_of(user_id)
        for post in posts:
            async with self.publisher.lock(post.job_id):
                current = await self.store.get_post(post.id)
                if current is None:
                    continue
                if current.status == PostStatus.UNKNOWN:
                    purge.unconfirmed += 1
                    continue
                removal = Removal.DELETED
                if current.channel_message_id is not None:
                    removal = await self.feed.remove(current.channel_message_id)
                if removal == Removal.FAILED:
                    purge.still_public += 1
                    continue
                await self.review.withdraw(post.id)
                await self.store.delete_post(post.id, user_id)
                purge.removed += 1
        purge.remixes = await self.remixes.take_down([post.id for post in posts])
        return purge


@dataclass
class Purge:
    """What ``/ban --purge`` did to the person's posts."""

    removed: int = 0
    still_public: int = 0  # the channel refused to delete or blank them
    unconfirmed: int = 0  # never confirmed by Telegram: may be in the channel
    remixes: TakenDown = field(default_factory=TakenDown)  # others' remixes of the posts


def _target(args: list[str]) -> int | None:
    """The user id a /ban or /unban names: its first argument, digits only."""
    if not args or not USER_ID.match(args[0]):
        return None
    return int(args[0])
