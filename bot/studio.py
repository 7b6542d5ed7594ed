"""The bot's service layer: accepting photos, running jobs, delivering, posting, likes.

Handlers call one method here each. This is the only place that combines the
store, the files, the composer and Telegram; it holds every business rule
(limits, ownership, exactly-once posting, resuming after a restart).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import weakref
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Bot, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import keyboards, metrics
from bot.feed import Feed
from bot.files import FileStore
from bot.progress import ProgressMessage
from bot.texts import language_of, raw, text
from immu.settings import Settings
from pipeline import (
    ComposeOptions,
    Composer,
    ComposeRequest,
    Composition,
    PhotoError,
)
from storage import Job, Store, StoreError, TrackRow, User

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0
DAY = timedelta(days=1)
DIGEST_WINDOW = timedelta(days=7)  # the digest lists the week's most liked, whenever it runs


@dataclass(frozen=True)
class Person:
    """Who is talking to the bot, as Telegram says."""

    id: int
    first_name: str
    language_code: str | None
    chat_id: int


@dataclass(frozen=True)
class Answer:
    """What a handler shows: a text (HTML), maybe a keyboard, maybe as a popup."""

    text: str
    markup: Any = None
    alert: bool = False


class Studio:
    """Everything IMMU does on behalf of people; the handlers only translate."""

    def __init__(
        self, settings: Settings, store: Store, files: FileStore, composer: Composer, bot: Bot
    ) -> None:
        self.settings = settings
        self.store = store
        self.files = files
        self.composer = composer
        self.bot = bot
        self.feed = Feed(settings, bot, files)
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self._admission = asyncio.Lock()  # limit checks and reservations, never I/O
        self._reserved: defaultdict[int, int] = defaultdict(int)
        # one lock per job's post, gone once nobody holds or waits for it
        self._post_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stage_seconds: dict[str, float] = {}
        self.started = time.monotonic()

    # --- people and languages ---

    async def person(self, who: Person) -> tuple[User, str]:
        user = await self.store.upsert_user(who.id, who.first_name, who.language_code or "")
        return user, language_of(user.telegram_language, user.language)

    async def lang_of(self, user_id: int) -> str:
        user = await self.store.get_user(user_id)
        return language_of(user.telegram_language, user.language) if user else "en"

    # --- accepting a photo ---

    async def accept_photo(self, who: Person, file_id: str, file_size: int | None) -> None:
        """Check limits, download, clean, record the job and answer "queued, position N"."""
        _, lang = await self.person(who)
        limit = int(self.settings.max_photo_mb * 1024 * 1024)
        if file_size is not None and file_size > limit:
            await self._say(
                who.chat_id, text(lang, "too_large", size_mb=_mb(file_size), limit_mb=_mb(limit))
            )
            return
        refusal = await self._reserve(who.id, lang)
        if refusal:
            await self._say(who.chat_id, refusal)
            return
        try:
            await self._admit(who, lang, file_id, limit)
        finally:
            self._release(who.id)

    async def _admit(self, who: Person, lang: str, file_id: str, limit: int) -> None:
        try:
            tg_file = await self.bot.get_file(file_id)
            if tg_file.file_size and tg_file.file_size > limit:
                size_mb, limit_mb = _mb(tg_file.file_size), _mb(limit)
                await self._say(
                    who.chat_id, text(lang, "too_large", size_mb=size_mb, limit_mb=limit_mb)
                )
                return
            data = bytes(await tg_file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("download failed user=%s reason=%s", _uid(who.id), type(exc).__name__)
            await self._say(who.chat_id, text(lang, "download_failed"))
            return
        try:
            clean = await self.composer.clean_photo(data)
        except PhotoError as exc:
            log.info("photo refused user=%s problem=%s", _uid(who.id), exc.problem)
            await self._say(who.chat_id, text(lang, str(exc.problem)))
            return
        finally:
            del data
        try:
            photo_path = self.files.save_photo(clean)
        except OSError as exc:
            log.error("cannot save photo reason=%s", exc.strerror)
            await self._say(who.chat_id, text(lang, "storage_failed"))
            return
        await self._enqueue(
            who.id, who.chat_id, photo_path, seed=secrets.randbelow(2**31), lang=lang
        )

    async def _reserve(self, user_id: int, lang: str) -> str | None:
        """Hold a place for a photo being downloaded, so that concurrent arrivals
        cannot overshoot the limits; None if admitted (then ``_release`` later)."""
        async with self._admission:
            refusal = await self._refusal(user_id, lang)
            if refusal is None:
                self._reserved[user_id] += 1
            return refusal

    def _release(self, user_id: int) -> None:
        self._reserved[user_id] -= 1
        if self._reserved[user_id] <= 0:
            del self._reserved[user_id]

    async def _refusal(self, user_id: int, lang: str) -> str | None:
        s = self.settings
        mine = self._reserved.get(user_id, 0)
        if await self.store.count_active(user_id) + mine >= s.max_jobs_per_user:
            return text(lang, "limit_in_flight", n=s.max_jobs_per_user)
        since = datetime.now(UTC) - DAY
        if await self.store.count_jobs_since(user_id, since) + mine >= s.max_photos_per_day:
            return text(lang, "limit_daily", n=s.max_photos_per_day)
        if await self.store.count_active() + sum(self._reserved.values()) >= s.max_queue:
            return text(lang, "busy")
        return None

    async def _enqueue(
        self,
        user_id: int,
        chat_id: int,
        photo_path: str,
        *,
        seed: int,
        lang: str,
        remix_post_id: int | None = None,
    ) -> Job:
        job = await self.store.create_job(user_id, chat_id, photo_path, seed, remix_post_id)
        position = await self.store.queue_position(job.id)
        log.info("job accepted job=%d user=%s position=%d", job.id, _uid(user_id), position)
        message = await self._say(
            chat_id, text(lang, "queued", position=position), keyboards.queued(lang, job.id)
        )
        if message is not None:
            await self.store.set_status_message(job.id, message.message_id)
        self.queue.put_nowait(job.id)
        return job

    # --- running jobs ---

    async def resume(self) -> int:
        """After a start: put every accepted, undelivered job back in line, oldest first."""
        jobs = await self.store.unfinished_jobs()
        for job in jobs:
            self.queue.put_nowait(job.id)
        if jobs:
            log.info("resumed jobs=%d", len(jobs))
        return len(jobs)

    async def run(self) -> None:
        """The job loop: one job at a time on the composer's lane; delivery runs beside it."""
        while True:
            job_id = await self.queue.get()
            metrics.QUEUE.set(self.queue.qsize())
            metrics.IN_FLIGHT.inc()
            try:
                await self._run_one(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job crashed job=%d", job_id)
            finally:
                metrics.IN_FLIGHT.dec()

    async def _run_one(self, job_id: int) -> None:
        job = await self.store.get_job(job_id)
        if job is None or job.status in ("cancelled", "failed", "delivered"):
            return
        if job.status == "done":  # composed before a restart: only delivery is left
            self._spawn(self._deliver(job))
            return
        attempt = await self.store.start_attempt(job.id)
        lang = await self.lang_of(job.user_id)
        if attempt > self.settings.max_attempts:
            await self._fail(job, lang, "failed", f"gave up after {attempt - 1} attempts")
            return
        progress = ProgressMessage(
            self.bot, job.chat_id, job.status_message_id, lang, self.settings.progress_edit_s
        )
        started = time.perf_counter()
        try:
            photo = self.files.read(job.photo_path)
            options = await self._options(job)
            if options is None:
                await progress.close()
                await self._fail(job, lang, "remix_gone", "remixed post deleted")
                return
            composition = await self.composer.compose(
                ComposeRequest(job.id, photo, options), progress.on_event
            )
        except PhotoError as exc:
            await progress.close()
            await self._fail(job, lang, str(exc.problem), str(exc))
            return
        except Exception as exc:
            await progress.close()
            log.warning("compose failed job=%d attempt=%d reason=%s", job.id, attempt, exc)
            if attempt >= self.settings.max_attempts:
                await self._fail(job, lang, "failed", f"{type(exc).__name__}: {exc}")
            else:
                await self.store.set_job_status(job.id, "queued", error=str(exc)[:500])
                self.queue.put_nowait(job.id)
            return
        await progress.close()
        seconds = time.perf_counter() - started
        for stage, value in composition.seconds.items():
            self.stage_seconds[stage] = value
            metrics.STAGE_SECONDS.labels(stage).observe(value)
        log.info(
            "job composed job=%d seconds=%.2f brief=%s", job.id, seconds, composition.brief.source
        )
        try:
            await self._save(job, composition)
        except (OSError, StoreError) as exc:
            log.error("cannot save result job=%d reason=%s", job.id, exc)
            await self._fail(job, lang, "storage_failed", str(exc))
            return
        saved = await self.store.get_job(job.id)
        assert saved is not None
        self._spawn(self._deliver(saved, composed_at=time.perf_counter()))

    async def _options(self, job: Job) -> ComposeOptions | None:
        """A plain job, or a remix: three variations of a channel post's spectrogram.
        None when the remixed post has been deleted meanwhile."""
        if job.remix_post_id is None:
            return ComposeOptions(seed=job.seed)
        post = await self.store.get_post(job.remix_post_id)
        if post is None:
            return None
        track = next(t for t in await self.store.tracks(post.job_id) if t.idx == post.track_idx)
        return ComposeOptions(
            seed=job.seed,
            remix_png=self.files.read(track.png_path),
            remix_prompt=track.prompt,
            remix_genre=track.genre,
        )

    async def _save(self, job: Job, composition: Composition) -> None:
        tracks = []
        for t in composition.tracks:
            mp3 = self.files.save_job_file(job.id, f"track-{t.index + 1}.mp3", t.mp3)
            png = self.files.save_job_file(job.id, f"track-{t.index + 1}.png", t.spectrogram_png)
            tracks.append(
                TrackRow(job.id, t.index, t.genre, t.prompt, t.seed, t.duration_s, mp3, png)
            )
        cover = self.files.save_job_file(job.id, "cover.jpg", composition.cover_jpeg)
        brief = json.dumps(asdict(composition.brief), ensure_ascii=False)
        captions = json.dumps(list(composition.captions), ensure_ascii=False)
        await self.store.save_result(job.id, captions, brief, cover, tracks)

    async def _fail(self, job: Job, lang: str, key: str, reason: str) -> None:
        metrics.JOBS.labels("failed").inc()
        await self.store.set_job_status(job.id, "failed", error=reason[:500])
        log.info("job failed job=%d reason=%s", job.id, reason[:200])
        await self._edit_or_say(job.chat_id, job.status_message_id, text(lang, key))

    # --- delivering three tracks ---

    async def _deliver(self, job: Job, composed_at: float | None = None) -> None:
        """Send the three audios and the choice keyboard; each send is recorded, so a
        restart resumes where it stopped instead of sending again."""
        lang = await self.lang_of(job.user_id)
        tracks = await self.store.tracks(job.id)
        brief = json.loads(job.brief or "{}")
        try:
            cover = self.files.read(job.cover_path or "")
            for track in tracks:
                if track.message_id is not None:
                    continue
                message = await self.bot.send_audio(
                    job.chat_id,
                    audio=InputFile(self.files.read(track.mp3_path), filename=f"immu-{job.id}-{track.idx + 1}.mp3"),
                    title=f"{track.idx + 1}. {track.genre}"[:64],
                    performer="IMMU",
                    duration=round(track.duration_s),
                    thumbnail=InputFile(cover, filename="cover.jpg"),
                    caption=text(lang, "track_caption", n=track.idx + 1, genre=track.genre),
                )  # fmt: skip
                await self.store.set_track_message(job.id, track.idx, message.message_id)
            if job.result_message_id is None:
                genres = [t.genre for t in tracks]
                message = await self.bot.send_message(
                    job.chat_id,
                    text(lang, "result", description=brief.get("description", ""), mood=brief.get("mood", ""),
                         genre1=genres[0], genre2=genres[1], genre3=genres[2]),
                    parse_mode=ParseMode.HTML,
                    reply_markup=keyboards.choices(lang, job.id, genres),
                )  # fmt: skip
                await self.store.set_result_message(job.id, message.message_id)
        except Forbidden:
            log.info("person blocked the bot job=%d", job.id)
            await self.store.set_job_status(job.id, "failed", error="blocked by the user")
            return
        except (TelegramError, OSError) as exc:
            log.warning("delivery failed job=%d reason=%s; retrying", job.id, exc)
            await asyncio.sleep(5)
            self.queue.put_nowait(job.id)
            return
        await self.store.set_job_status(job.id, "delivered")
        metrics.JOBS.labels("delivered").inc()
        await self._edit_or_say(
            job.chat_id, job.status_message_id, text(lang, "delivered"), send_if_missing=False
        )
        since = time.perf_counter() - composed_at if composed_at is not None else float("nan")
        log.info("job delivered job=%d seconds_since_composed=%.3f", job.id, since)

    # --- the person's choice ---

    async def pick(self, who: Person, job_id: int, track_idx: int) -> Answer:
        """Post the chosen track, once, whatever is tapped how often."""
        _, lang = await self.person(who)
        job = await self._owned_job(who, job_id, lang)
        if isinstance(job, Answer):
            return job
        if job.status != "delivered" or track_idx not in (0, 1, 2):
            return Answer(text(lang, "expired"), alert=True)
        async with self._post_lock(job_id):
            post = await self.store.claim_post(job_id, track_idx, who.id)
            if post.status == "posted":
                return Answer(text(lang, "already_posted"), alert=True)
            url = await self._publish(post.id)
        return Answer(text(lang, "posted" if url else "post_pending"), alert=url is None)

    def _post_lock(self, job_id: int) -> asyncio.Lock:
        lock = self._post_locks.get(job_id)
        if lock is None:
            lock = self._post_locks[job_id] = asyncio.Lock()
        return lock

    async def _publish(self, post_id: int) -> str | None:
        """Post to the channel and record it; None if the channel failed (kept pending)."""
        post = await self.store.get_post(post_id)
        if post is None or post.status == "posted":
            return None
        job = await self.store.get_job(post.job_id)
        user = await self.store.get_user(post.user_id)
        if job is None or user is None:
            return None
        track = next(t for t in await self.store.tracks(job.id) if t.idx == post.track_idx)
        await self.store.count_post_attempt(post.id)
        try:
            message = await self.feed.publish(post.id, job, track, user, self.composer)
        except TelegramError as exc:
            log.warning("channel post failed post=%d reason=%s", post.id, exc)
            return None
        await self.store.mark_posted(post.id, message.message_id)
        url = self.feed.url(message.message_id)
        log.info("posted post=%d job=%d channel_message=%d", post.id, job.id, message.message_id)
        lang = language_of(user.telegram_language, user.language)
        if job.result_message_id is not None:
            try:
                await self.bot.edit_message_reply_markup(
                    job.chat_id, job.result_message_id, reply_markup=keyboards.link(lang, url)
                )
            except TelegramError as exc:
                log.info("keyboard not replaced job=%d reason=%s", job.id, exc)
        return url

    async def retry_pending_posts(self, notify: bool = True) -> int:
        """Post the choices the channel refused earlier (or a restart interrupted)."""
        posted = 0
        for post in await self.store.pending_posts():
            async with self._post_lock(post.job_id):
                url = await self._publish(post.id)
            if url:
                posted += 1
                job = await self.store.get_job(post.job_id)
                if notify and job is not None:
                    await self._say(
                        job.chat_id, text(await self.lang_of(job.user_id), "post_retry_done")
                    )
        return posted

    async def _owned_job(self, who: Person, job_id: int, lang: str) -> Job | Answer:
        """The job if ``who`` sent its photo; otherwise the refusal to show them."""
        job = await self.store.get_job(job_id)
        if job is None:
            return Answer(text(lang, "expired"), alert=True)
        if job.user_id != who.id:
            log.warning("foreign action refused job=%d user=%s", job_id, _uid(who.id))
            return Answer(text(lang, "not_yours"), alert=True)
        return job

    async def regenerate(self, who: Person, job_id: int) -> Answer:
        _, lang = await self.person(who)
        job = await self._owned_job(who, job_id, lang)
        if isinstance(job, Answer):
            return job
        if not await self.store.photo_in_use(job.photo_path):
            return Answer(text(lang, "expired"), alert=True)
        refusal = await self._reserve(who.id, lang)
        if refusal:
            return Answer(refusal, alert=True)
        try:
            seed = secrets.randbelow(2**31)
            await self._enqueue(who.id, job.chat_id, job.photo_path, seed=seed, lang=lang)
        finally:
            self._release(who.id)
        return Answer("")

    async def cancel(self, who: Person, job_id: int) -> Answer:
        _, lang = await self.person(who)
        job = await self._owned_job(who, job_id, lang)
        if isinstance(job, Answer):
            return job
        if job.status == "queued" and await self.store.cancel_if_queued(job_id):
            await self._edit_or_say(job.chat_id, job.status_message_id, text(lang, "cancelled"))
            return Answer(text(lang, "cancelled"))
        if job.status == "delivered" and await self.store.post_for_job(job_id) is None:
            await self.store.set_job_status(job_id, "cancelled")
            await self._edit_or_say(job.chat_id, job.result_message_id, text(lang, "cancelled"))
            return Answer(text(lang, "cancelled"))
        if job.status == "running":
            return Answer(text(lang, "cannot_cancel"), alert=True)
        return Answer(text(lang, "expired"), alert=True)

    # --- likes, profile, feed ---

    async def reactions(self, chat_id: int, message_id: int, counts: dict[str, int]) -> None:
        if not self.feed.is_channel(chat_id):
            return
        post = await self.store.set_reactions(message_id, counts)
        if post is not None:
            log.info("likes post=%d likes=%d", post.id, post.likes)

    async def profile(self, who: Person) -> Answer:
        _, lang = await self.person(who)
        posts = await self.store.user_posts(who.id)
        if not posts:
            return Answer(text(lang, "profile_empty"))
        lines = "\n".join(
            text(lang, "profile_line", url=self.feed.url(p.channel_message_id or 0), genre=p.genre, likes=p.likes)
            for p in posts[:30]
        )  # fmt: skip
        likes = sum(p.likes for p in posts)
        return Answer(raw(lang, "profile", count=len(posts), likes=likes, lines=lines))

    async def top(self, who: Person) -> Answer:
        _, lang = await self.person(who)
        posts = await self.store.top_posts(datetime.now(UTC) - timedelta(days=7), limit=10)
        if not posts:
            return Answer(text(lang, "top_empty"))
        lines = "\n".join(
            text(lang, "top_line", rank=i + 1, url=self.feed.url(p.channel_message_id or 0), genre=p.genre, likes=p.likes)
            for i, p in enumerate(posts)
        )  # fmt: skip
        return Answer(raw(lang, "top", lines=lines))

    async def delete_menu(self, who: Person) -> Answer:
        _, lang = await self.person(who)
        posts = await self.store.user_posts(who.id)
        if not posts:
            return Answer(text(lang, "delete_none"))
        labels = [
            (
                p.id,
                text(
                    lang, "button_delete_post", genre=p.genre, likes=p.likes, date=p.created_at[:10]
                ),
            )
            for p in posts[:20]
        ]
        return Answer(text(lang, "delete_choose"), keyboards.delete_choices(lang, labels))  # fmt: skip

    async def delete_post(self, who: Person, post_id: int) -> Answer:
        _, lang = await self.person(who)
        existing = await self.store.get_post(post_id)
        # the same lock as publishing: a delete never races a post of the same choice
        async with self._post_lock(existing.job_id if existing else 0):
            post = await self.store.delete_post(post_id, who.id)
        if post is None:
            log.warning("foreign delete refused post=%d user=%s", post_id, _uid(who.id))
            return Answer(text(lang, "not_yours"), alert=True)
        if post.channel_message_id is not None:
            await self.feed.remove(post.channel_message_id)
        log.info("post deleted post=%d", post.id)
        return Answer(text(lang, "deleted"))

    async def toggle_anonymous(self, who: Person) -> Answer:
        _, lang = await self.person(who)
        return Answer(
            text(
                lang,
                "anonymous_on" if await self.store.toggle_anonymous(who.id) else "anonymous_off",
            )
        )

    async def toggle_describe(self, who: Person) -> Answer:
        _, lang = await self.person(who)
        return Answer(
            text(
                lang, "describe_on" if await self.store.toggle_describe(who.id) else "describe_off"
            )
        )

    async def switch_language(self, who: Person, wanted: str | None) -> Answer:
        _, lang = await self.person(who)
        new = wanted if wanted in ("en", "ko") else ("ko" if lang == "en" else "en")
        await self.store.set_language(who.id, new)
        return Answer(text(new, "lang_set"))

    async def remix(self, who: Person, post_id: int) -> Answer:
        """A reader tapped "Remix" under a post: three variations of that track, for them."""
        _, lang = await self.person(who)
        post = await self.store.get_post(post_id)
        original = (
            await self.store.get_job(post.job_id) if post and post.status == "posted" else None
        )
        if original is None:
            return Answer(text(lang, "remix_gone"))
        refusal = await self._reserve(who.id, lang)
        if refusal:
            return Answer(refusal)
        try:
            seed = secrets.randbelow(2**31)
            await self._enqueue(
                who.id,
                who.chat_id,
                original.photo_path,
                seed=seed,
                lang=lang,
                remix_post_id=post_id,
            )
        finally:
            self._release(who.id)
        log.info("remix accepted post=%d user=%s", post_id, _uid(who.id))
        return Answer("")

    async def digest_if_due(self) -> bool:
        """Post the most liked tracks of the period to the channel, once per period."""
        every = self.settings.digest_every_h
        if every <= 0:
            return False
        now = datetime.now(UTC)
        last = await self.store.get_meta("last_digest")
        if last is None:  # the first period starts when the bot first runs
            await self.store.set_meta("last_digest", now.isoformat())
            return False
        since = datetime.fromisoformat(last)
        if now - since < timedelta(hours=every):
            return False
        posts = await self.store.top_posts(now - DIGEST_WINDOW, limit=5)
        if posts:
            lines = "\n".join(
                text("en", "top_line", rank=i + 1, url=self.feed.url(p.channel_message_id or 0), genre=p.genre, likes=p.likes)
                for i, p in enumerate(posts)
            )  # fmt: skip
            try:
                await self.bot.send_message(
                    self.feed.chat, raw("en", "digest", lines=lines), parse_mode=ParseMode.HTML,
                    disable_web_page_preview=True,
                )  # fmt: skip
            except TelegramError as exc:
                log.warning("digest failed reason=%s", exc)
                return False
            log.info("digest posted posts=%d", len(posts))
        await self.store.set_meta("last_digest", now.isoformat())
        return bool(posts)

    async def welcome(self, who: Person) -> Answer:
        _, lang = await self.person(who)
        return Answer(text(lang, "start", name=who.first_name, channel=self.feed.display_name))

    async def forget_menu(self, who: Person) -> Answer:
        _, lang = await self.person(who)
        return Answer(text(lang, "forget_confirm"), keyboards.forget(lang, who.id))

    async def forget(self, who: Person, user_id: int) -> Answer:
        lang = await self.lang_of(who.id)
        if user_id != who.id:
            return Answer(text(lang, "not_yours"), alert=True)
        for post in await self.store.user_posts(who.id):
            if post.channel_message_id is not None:
                await self.feed.remove(post.channel_message_id)
        paths = await self.store.forget_user(who.id)
        self.files.remove(paths)
        log.info("person forgotten user=%s files=%d", _uid(who.id), len(paths))
        return Answer(text(lang, "forgotten"))

    async def stats(self, who: Person) -> Answer:
        _, lang = await self.person(who)
        if who.id not in self.settings.admin_ids:
            return Answer(text(lang, "admin_only"))
        counts = await self.store.stats()
        counts["in_line"] = self.queue.qsize()
        counts["workers_alive"] = await self.workers_alive()
        counts["uptime_s"] = int(time.monotonic() - self.started)
        lines = [f"{k}: {v}" for k, v in sorted(counts.items())]
        lines += [f"last {k}_s: {v:.2f}" for k, v in self.stage_seconds.items()]
        return Answer(text(lang, "stats", lines="\n".join(lines)))

    async def workers_alive(self) -> int:
        alive = await self.composer.workers_alive()
        metrics.WORKERS.set(alive)
        return alive

    async def housekeeping(self) -> None:
        """Background: retry refused posts often, drop old unchosen tracks hourly."""
        last_retention = 0.0
        while True:
            try:
                await self.retry_pending_posts()
                await self.digest_if_due()
                await self.workers_alive()  # keeps the metric current between /stats
                if time.monotonic() - last_retention > RETENTION_EVERY_S:
                    last_retention = time.monotonic()
                    paths = await self.store.expire_unchosen(self.settings.retention_days)
                    self.files.remove(paths)
                    if paths:
                        log.info("retention removed files=%d", len(paths))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed")
            await asyncio.sleep(self.settings.post_retry_s)

    # --- sending helpers ---

    async def _say(self, chat_id: int, message: str, markup: Any = None) -> Message | None:
        try:
            return await self.bot.send_message(
                chat_id, message, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except Forbidden:
            log.info("cannot message user=%s: blocked", _uid(chat_id))
        except TelegramError as exc:
            log.warning("send failed user=%s reason=%s", _uid(chat_id), exc)
        return None

    async def _edit_or_say(
        self, chat_id: int, message_id: int | None, message: str, *, send_if_missing: bool = True
    ) -> None:
        if message_id is not None:
            try:
                await self.bot.edit_message_text(
                    message, chat_id, message_id, parse_mode=ParseMode.HTML
                )
                return
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return
                log.info("edit failed, sending instead reason=%s", exc)
            except TelegramError as exc:
                log.info("edit failed reason=%s", exc)
                return
        if send_if_missing:
            await self._say(chat_id, message)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}"


def _uid(user_id: int) -> str:
    """A short stable hash of a user id: enough to follow one person through the logs."""
    import hashlib

    return hashlib.sha256(str(user_id).encode()).hexdigest()[:10]
