"""New work from people: a photo, "new tracks from this photo", a remix of a post.

Each goes through admission, then becomes a job in line (``Jobs.enqueue``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.admission import Admission, Refused
from bot.files import FileStore
from bot.jobs import Jobs
from bot.moderation import ScreeningFailed
from bot.pseudonym import uid
from bot.settings import Settings
from bot.telegram.chat import Answer, Chat, Person
from bot.telegram.texts import text
from pipeline import PhotoError
from pipeline.photo import clean_photo
from storage import PostStatus, Store

if TYPE_CHECKING:
    from bot.moderation import Moderation

log = logging.getLogger(__name__)

SEED_RANGE = 2**31
CLOSE_GRACE_S = 10.0
DOWNLOAD_TRIES = 3
DOWNLOAD_BACKOFF_S = 0.5


class Intake:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        files: FileStore,
        admission: Admission,
        jobs: Jobs,
        chat: Chat,
        bot: Bot,
        moderation: Moderation | None = None,
    ) -> None:
        self.moderation = moderation  # IMMU_MODERATION=auto: the photo filter
        self.settings = settings
        self.store = store
        self.files = files
        self.admission = admission
        self.jobs = jobs
        self.chat = chat
        self.bot = bot
        self._decoding = asyncio.Semaphore(settings.max_decodes)  # bounds a burst's memory
        self._tasks: set[asyncio.Task[None]] = set()

    async def photo(self, who: Person, file_id: str, file_size: int | None) -> None:
        """Answer at once ("got it"); then check limits, download, clean and queue in the
        background, editing that answer to "queued, position N" or to the refusal.

        The answer touches neither the store nor the file: under a burst, a handler that
        checked, downloaded and re-encoded first kept everyone behind it waiting."""
        lang = self.chat.instant_language(who)
        if not self.admission.invited(who.id):
            await self.chat.say(who.chat_id, text(lang, "not_invited"))
            log.info("photo refused user=%s reason=not-invited", uid(who.id))
            return
        limit = int(self.settings.max_photo_mb * 1024 * 1024)
        if file_size is not None and file_size > limit:
            await self.chat.say(who.chat_id, _too_large(lang, file_size, limit))
            return
        answer = await self.chat.say(who.chat_id, text(lang, "received"))
        task = asyncio.create_task(
            self._admit(who, file_id, limit, answer.message_id if answer else None)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """At shutdown: photos being fetched get a moment to reach the queue (it is durable)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLOSE_GRACE_S)
        for task in list(self._tasks):
            task.cancel()

    async def _admit(self, who: Person, file_id: str, limit: int, answer_id: int | None) -> None:
        try:
            await self._check_and_queue(who, file_id, limit, answer_id)
        except Refused as refusal:
            await self.chat.edit_or_say(who.chat_id, answer_id, str(refusal))
        except Exception:  # a task's error would otherwise be lost with it
            log.exception("intake failed user=%s", uid(who.id))
            lang = self.chat.instant_language(who)  # the store itself may be what failed
            await self.chat.edit_or_say(who.chat_id, answer_id, text(lang, "storage_failed"))

    async def _check_and_queue(
        self, who: Person, file_id: str, limit: int, answer_id: int | None
    ) -> None:
        """Limits, download, clean, record the job; raises ``Refused`` at a limit."""
        lang = await self.chat.meet(who)
        async with self.admission.slot(who.id, lang) as recorded:
            photo_path = await self._fetch(who, lang, file_id, limit, answer_id)
            if photo_path is None:
                return
            queued = False

            def in_line() -> None:
                nonlocal queued
                queued = True
                recorded()

            try:
                if await self._allowed(who, lang, photo_path, answer_id):
                    seed = secrets.randbelow(SEED_RANGE)
                    await self.jobs.enqueue(
                        who.id, who.chat_id, photo_path, seed=seed, lang=lang,
                        status_message_id=answer_id, recorded=in_line,
                    )  # fmt: skip
            finally:  # refused, not checked, or the store failed: no row will point to it
                if not queued:
                    self.files.remove([photo_path])

    async def _fetch(
        self, who: Person, lang: str, file_id: str, limit: int, answer_id: int | None
    ) -> str | None:
        """Download and clean the photo, keep it on disk; None after telling the person why
        not (in the message that answered them)."""

        async def tell(message: str) -> None:
            await self.chat.edit_or_say(who.chat_id, answer_id, message)

        for attempt in range(1, DOWNLOAD_TRIES + 1):
            try:
                tg_file = await self.bot.get_file(file_id)
                if tg_file.file_size and tg_file.file_size > limit:
                    await tell(_too_large(lang, tg_file.file_size, limit))
                    return None
                data = bytes(await tg_file.download_as_bytearray())
                break
            except (BadRequest, Forbidden) as exc:  # the file is gone or refused for good
                reason = type(exc).__name__
            except TelegramError as exc:  # a 502, a timeout: reading a file again is harmless
                reason = type(exc).__name__
                if attempt < DOWNLOAD_TRIES:
                    await asyncio.sleep(DOWNLOAD_BACKOFF_S * attempt)
                    continue
            log.warning("download failed user=%s reason=%s", uid(who.id), reason)
            await tell(text(lang, "download_failed"))
            return None
        try:
            async with self._decoding:
                clean = await asyncio.to_thread(clean_photo, data)
        except PhotoError as exc:
            log.info("photo refused user=%s problem=%s", uid(who.id), exc.problem)
            await tell(text(lang, str(exc.problem)))
            return None
        finally:
            del data
        try:
            return self.files.save_photo(clean)
        except OSError as exc:
            log.error("cannot save photo reason=%s", exc.strerror)
            await tell(text(lang, "storage_failed"))
            return None

    async def _allowed(
        self, who: Person, lang: str, photo_path: str, answer_id: int | None
    ) -> bool:
        """The photo filter, before any composing; False after telling the person why."""
        if self.moderation is None:
            return True
        try:
            if await self.moderation.allows(who, self.files.read(photo_path)):
                return True
            why = "unsafe_photo"
        except ScreeningFailed:  # the classifier broke: the photo was never judged
            why = "screening_failed"
        await self.chat.edit_or_say(who.chat_id, answer_id, text(lang, why))
        return False

    async def regenerate(self, who: Person, job_id: int) -> Answer:
        """New tracks from the same photo, with a new seed."""
        if not self.admission.invited(who.id):  # no longer on IMMU_ALLOWED_IDS
            return Answer(text(self.chat.instant_language(who), "not_invited"), alert=True)
        lang = await self.chat.meet(who)
        job = await self.chat.owned_job(who, job_id, lang)
        if isinstance(job, Answer):
            return job
        if not await self.store.photo_in_use(job.photo_path):
            return Answer(text(lang, "expired"), alert=True)
        try:
            async with self.admission.slot(who.id, lang):
                seed = secrets.randbelow(SEED_RANGE)
                await self.jobs.enqueue(who.id, job.chat_id, job.photo_path, seed=seed, lang=lang)
        except Refused as refusal:
            return Answer(str(refusal), alert=True)
        return Answer("")

    async def remix(self, who: Person, post_id: int) -> Answer:
        """A reader tapped "Remix" under a post: three variations of that track, for them."""
        if not self.admission.invited(who.id):
            return Answer(text(self.chat.instant_language(who), "not_invited"))
        lang = await self.chat.meet(who)
        post = await self.store.get_post(post_id)
        original = (
            await self.store.get_job(post.job_id)
            if post and post.status == PostStatus.POSTED
            else None
        )
        if original is None:
            return Answer(text(lang, "remix_gone"))
        try:
            async with self.admission.slot(who.id, lang):
                # a copy of its own: the original's /forget or retention never breaks it
                photo = self.files.save_photo(self.files.read(original.photo_path))
                await self.jobs.enqueue(
                    who.id,
                    who.chat_id,
                    photo,
                    seed=secrets.randbelow(SEED_RANGE),
                    lang=lang,
                    remix_post_id=post_id,
                )
        except Refused as refusal:
            return Answer(str(refusal))
        except OSError as exc:
            log.error("cannot copy the remixed photo reason=%s", exc.strerror)
            return Answer(text(lang, "storage_failed"))
        log.info("remix accepted post=%d user=%s", post_id, uid(who.id))
        return Answer("")


def _too_large(lang: str, size: int, limit: int) -> str:
    return text(lang, "too_large", size_mb=f"{size / 2**20:.1f}", limit_mb=f"{limit / 2**20:.1f}")
