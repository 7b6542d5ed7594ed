"""The job loop: resume after a restart, compose through the composer, save, deliver.

Jobs are durable in the store; the in-memory queue only orders the work. Every step
is recorded before the next one starts, so a restart resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from telegram import Bot, InputFile
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot import metrics
from bot.files import FileStore
from bot.pseudonym import uid
from bot.publisher import Publisher
from bot.settings import Settings
from bot.telegram import keyboards
from bot.telegram.chat import Answer, Chat, Person
from bot.telegram.progress import ProgressMessage
from bot.telegram.texts import plain, text
from bot.telegram.transport import NotSent
from pipeline import ComposeOptions, Composer, ComposeRequest, Composition, PhotoError
from storage import (
    FINISHED,
    Job,
    JobStatus,
    PostStatus,
    Store,
    StoredBrief,
    StoreError,
    TrackRow,
)

log = logging.getLogger(__name__)

UNCONFIRMED = 0  # a track's message id when Telegram did not confirm the upload in time
CHOICES_READ_TIMEOUT_S = 30.0  # a slow answer must not look lost: it would bring a second keyboard


class Jobs:
    """Runs accepted jobs on the composer's lanes and delivers their three tracks."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        files: FileStore,
        composer: Composer,
        chat: Chat,
        bot: Bot,
        publisher: Publisher,
    ) -> None:
        self.settings = settings
        self.store = store
        self.files = files
        self.composer = composer
        self.chat = chat
        self.bot = bot
        self.publisher = publisher  # its per-job lock: a cancel never lands between pick and post
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.stage_seconds: dict[str, float] = {}  # the last job's, for /stats
        self._tasks: set[asyncio.Task[Any]] = set()

    async def enqueue(
        self,
        user_id: int,
        chat_id: int,
        photo_path: str,
        *,
        seed: int,
        lang: str,
        remix_post_id: int | None = None,
        status_message_id: int | None = None,
        recorded: Callable[[], None] | None = None,
    ) -> Job:
        """Record a job, put it in line and answer "queued, position N" (in the message
        ``status_message_id`` when the person was already answered); ``recorded`` is
        called as soon as the job is in the store."""
        job = await self.store.create_job(user_id, chat_id, photo_path, seed, remix_post_id)
        if recorded is not None:
            recorded()
        try:
            position = await self.store.queue_position(job.id)
            log.info("job accepted job=%d user=%s position=%d", job.id, uid(user_id), position)
            shown = await self.chat.edit_or_say(
                chat_id,
                status_message_id,
                text(lang, "queued", position=position),
                markup=keyboards.queued(lang, job.id),
            )
            if shown is not None:
                await self.store.set_status_message(job.id, shown)
        finally:  # recorded means in line, whatever the reply did
            self.queue.put_nowait(job.id)
        return job

    async def resume(self) -> int:
        """After a start: put every accepted, undelivered job back in line, oldest first."""
        jobs = await self.store.unfinished_jobs()
        for job in jobs:
            self.queue.put_nowait(job.id)
        if jobs:
            log.info("resumed jobs=%d", len(jobs))
        return len(jobs)

    async def run(self) -> None:
        """One lane: one job at a time on the composer; delivery runs beside it."""
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

    async def workers_alive(self) -> int:
        alive = await self.composer.workers_alive()
        metrics.WORKERS.set(alive)
        return alive

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def cancel(self, who: Person, job_id: int) -> Answer:
        """Cancel a job still in line, or tracks nobody chose; not a job being composed."""
        lang = await self.chat.meet(who)
        job = await self.chat.owned_job(who, job_id, lang)
        if isinstance(job, Answer):
            return job
        if job.status == JobStatus.QUEUED and await self.store.cancel_if(job_id, JobStatus.QUEUED):
            await self.chat.edit_or_say(job.chat_id, job.status_message_id, text(lang, "cancelled"))
            return Answer(text(lang, "cancelled"))
        async with self.publisher.lock(job_id):  # never between a pick and its post
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

    # --- one job ---

    async def _run_one(self, job_id: int) -> None:
        job = await self.store.get_job(job_id)
        if job is None or job.status in FINISHED:
            return
        if job.status == JobStatus.DONE:  # composed before a restart: only delivery is left
            self._spawn(self._deliver(job))
            return
        attempt = await self.store.start_attempt(job.id)
        lang = await self.chat.language(job.user_id)
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
            if options is None:  # its copy of the original's photo goes with it, now
                await progress.close()
                await self._fail(job, lang, "remix_gone", "remixed post not public")
                self.files.remove(await self.store.delete_jobs([job.id]))
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
                await self.store.set_job_status(job.id, JobStatus.QUEUED, error=str(exc)[:500])
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
            if await self.store.get_job(job.id) is None:  # forgotten while it was composed
                self.files.remove_job(job.id)
                log.info("job forgotten while composing job=%d; result dropped", job.id)
                return
            log.error("cannot save result job=%d reason=%s", job.id, exc)
            await self._fail(job, lang, "storage_failed", str(exc))
            return
        saved = await self.store.get_job(job.id)
        assert saved is not None
        self._spawn(self._deliver(saved, composed_at=time.perf_counter()))

    async def _options(self, job: Job) -> ComposeOptions | None:
        """A plain job, or a remix: three variations of a channel post's spectrogram.
        None when the remixed post is not public any more (deleted, hidden, removed)."""
        if job.remix_post_id is None:
            return ComposeOptions(seed=job.seed)
        post = await self.store.get_post(job.remix_post_id)
        public = post is not None and post.status == PostStatus.POSTED
        track = await self.store.track(post.job_id, post.track_idx) if post and public else None
        if track is None:
            return None
        return ComposeOptions(
            seed=job.seed,
            remix_png=self.files.read(track.png_path),
            remix_prompt=track.prompt,
            remix_genre=track.genre,
        )

    async def _save(self, job: Job, composition: Composition) -> None:
        if await self.store.get_job(job.id) is None:
            raise StoreError(f"job {job.id} is gone")  # forgotten: write no file
        tracks = []
        for t in composition.tracks:
            mp3 = self.files.save_job_file(job.id, f"track-{t.index + 1}.mp3", t.mp3)
            png = self.files.save_job_file(job.id, f"track-{t.index + 1}.png", t.spectrogram_png)
            tracks.append(
                TrackRow(job.id, t.index, t.genre, t.prompt, t.seed, t.duration_s, mp3, png)
            )
        cover = self.files.save_job_file(job.id, "cover.jpg", composition.cover_jpeg)
        brief = StoredBrief(**asdict(composition.brief))
        await self.store.save_result(job.id, composition.captions, brief, cover, tracks)

    async def _fail(self, job: Job, lang: str, key: str, reason: str) -> None:
        metrics.JOBS.labels("failed").inc()
        await self.store.set_job_status(job.id, JobStatus.FAILED, error=reason[:500])
        log.info("job failed job=%d reason=%s", job.id, reason[:200])
        await self.chat.edit_or_say(job.chat_id, job.status_message_id, text(lang, key))

    # --- delivering three tracks ---

    async def _deliver(self, job: Job, composed_at: float | None = None) -> None:
        """Send the three audios and the choice keyboard; each send is recorded, so a
        restart resumes where it stopped instead of sending again."""
        current = await self.store.get_job(job.id)
        if current is None or current.status != JobStatus.DONE:  # forgotten, taken down
            log.info("delivery dropped job=%d: the job is gone or ended", job.id)
            return
        job = current
        lang = await self.chat.language(job.user_id)
        try:
            await self._send_tracks(job, lang)
        except Forbidden:
            log.info("person blocked the bot job=%d", job.id)
            await self.store.set_job_status(job.id, JobStatus.FAILED, error="blocked by the user")
            return
        except BadRequest as exc:  # the same request would be refused again
            log.error("delivery refused job=%d reason=%s", job.id, exc)
            await self._fail(job, lang, "delivery_failed", f"delivery refused: {exc}")
            return
        except (TelegramError, OSError) as exc:
            attempt = await self.store.count_delivery_attempt(job.id)
            if attempt >= self.settings.max_attempts:
                log.error("delivery gave up job=%d attempts=%d reason=%s", job.id, attempt, exc)
                await self._fail(job, lang, "delivery_failed", f"delivery failed: {exc}")
                return
            log.warning(
                "delivery failed job=%d attempt=%d reason=%s; retrying", job.id, attempt, exc
            )
            await asyncio.sleep(self.settings.post_retry_s)
            self.queue.put_nowait(job.id)
            return
        await self.store.set_job_status(job.id, JobStatus.DELIVERED)
        metrics.JOBS.labels("delivered").inc()
        delivered = await self.store.get_job(job.id)
        if delivered is not None and delivered.result_message_id != job.status_message_id:
            await self.chat.edit_or_say(
                job.chat_id, job.status_message_id, text(lang, "delivered"), send_if_missing=False
            )
        since = time.perf_counter() - composed_at if composed_at is not None else float("nan")
        log.info("job delivered job=%d seconds_since_composed=%.3f", job.id, since)

    async def _send_tracks(self, job: Job, lang: str) -> None:
        tracks = await self.store.tracks(job.id)
        # a remix's cover is the remixed person's photo: gone if they used /forget
        cover = self.files.read(job.cover_path) if job.cover_path else None
        upload = self.settings.upload_timeout_s
        for track in tracks:
            if track.message_id is not None:
                continue
            try:
                message = await self.bot.send_audio(
                    job.chat_id,
                    audio=InputFile(self.files.read(track.mp3_path), filename=f"immu-{job.id}-{track.idx + 1}.mp3"),
                    title=f"{track.idx + 1}. {track.genre}"[:64],
                    performer="IMMU",
                    duration=round(track.duration_s),
                    thumbnail=InputFile(cover, filename="cover.jpg") if cover else None,
                    caption=plain(lang, "track_caption", n=track.idx + 1, genre=track.genre),
                    parse_mode=None,  # plain text: a model's genre may be "R&B"
                    read_timeout=upload,
                    write_timeout=upload,
                )  # fmt: skip
                sent = message.message_id
            except (NotSent, RetryAfter, BadRequest, Forbidden):
                raise  # surely not sent: the delivery is tried again (or ends)
            except Exception as exc:  # maybe sent: a fourth audio is worse than a missing one
                log.warning(
                    "audio unconfirmed job=%d track=%d reason=%s; not sent again",
                    job.id, track.idx, exc,
                )  # fmt: skip
                sent = UNCONFIRMED
            await self.store.set_track_message(job.id, track.idx, sent)
        if job.result_message_id is None:
            await self._send_choices(job, lang, tracks)

    async def _send_choices(self, job: Job, lang: str, tracks: list[TrackRow]) -> None:
        """The choice keyboard, once. After an unclear answer it is not sent again blindly:
        the status message, whose id the bot has, carries it instead."""
        genres = [t.genre for t in tracks]
        brief = job.brief
        words = text(lang, "result", description=brief.description if brief else "",
                     mood=brief.mood if brief else "",
                     genre1=genres[0], genre2=genres[1], genre3=genres[2])  # fmt: skip
        markup = keyboards.choices(lang, job.id, genres)
        try:
            message = await self.bot.send_message(
                job.chat_id, words, reply_markup=markup,
                read_timeout=CHOICES_READ_TIMEOUT_S,
            )  # fmt: skip
            shown: int | None = message.message_id
        except (NotSent, RetryAfter, BadRequest, Forbidden):
            raise  # surely not sent: the delivery is tried again (or ends)
        except Exception as exc:  # a 5xx, a reset, a timeout, an answer we cannot read
            log.warning("choices unconfirmed job=%d reason=%s; on the status message", job.id, exc)
            shown = await self.chat.edit_or_say(
                job.chat_id, job.status_message_id, words, markup=markup, send_if_missing=False
            )
            if shown is None:  # no status message to carry it: one more is better than none
                shown = await self.chat.edit_or_say(job.chat_id, None, words, markup=markup)
        if shown is not None:
            await self.store.set_result_message(job.id, shown)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
