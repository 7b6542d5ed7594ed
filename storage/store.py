"""The store: users, jobs, tracks, posts and reactions in SQLite (aiosqlite, WAL).

Plain SQL, one named method per query, typed rows (``storage.rows``). The bot is its
only writer. Every failure of SQLite comes out as ``StoreError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from storage.rows import (
    ACTIVE,
    FINISHED,
    HELD,
    UNFINISHED,
    Job,
    JobStatus,
    Post,
    PostStatus,
    PostView,
    PublicPost,
    ReportSummary,
    StoredBrief,
    TrackRow,
    User,
)
from storage.schema import MIGRATIONS

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store could not do what was asked; the message says why."""


class StoreTooNew(StoreError):
    """The store was upgraded by a newer IMMU: refused, and never opened for writing."""


SQLITE_HEADER = b"SQLite format 3\x00"
USER_VERSION_AT = 60  # PRAGMA user_version: 4 bytes, big-endian, in the file's header


def refuse_newer(path: Path) -> None:
    """Refuse a store newer than this code from its header alone: no SQLite connection,
    which would leave -wal and -shm files, before the operator runs the right version."""
    try:
        with path.open("rb") as file:
            header = file.read(USER_VERSION_AT + 4)
    except OSError:  # missing (a new install) or unreadable: ``open`` says which
        return
    if len(header) < USER_VERSION_AT + 4 or not header.startswith(SQLITE_HEADER):
        return  # not SQLite: ``open`` says so
    version = int.from_bytes(header[USER_VERSION_AT:], "big")
    if version > len(MIGRATIONS):
        raise StoreTooNew(_too_new(path, version))


def _too_new(path: Path, version: int) -> str:
    return (
        f"the store {path} is version {version}, written by a newer IMMU (this one knows"
        f" versions up to {len(MIGRATIONS)}): run that IMMU, or restore a backup this one made"
    )


# a remix (its cover a copy of its original's photo) is public only while its original
# is: posted, its owner not banned (a deleted or forgotten one is gone)
_ORIGINAL_PUBLIC = f"""NOT EXISTS (SELECT 1 FROM jobs rj WHERE rj.id = p.job_id
    AND rj.remix_post_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM posts o
        WHERE o.id = rj.remix_post_id AND o.status = '{PostStatus.POSTED.value}'
        AND NOT EXISTS (SELECT 1 FROM bans ob WHERE ob.user_id = o.user_id)))"""
# a post that may be shared inline: public, its file kept, its owner not banned; the
# parameters are the status and an id bound (posts below it)
_SHAREABLE = f"""p.status = ? AND p.file_id IS NOT NULL AND p.id < ?
    AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = p.user_id)
    AND {_ORIGINAL_PUBLIC}"""
_NO_ID_ABOVE = 2**62


def _fold(value: object) -> object:
    """Text compared without case, in every script (SQLite's LOWER knows ASCII only);
    queries call it as ``immu_fold``."""
    return value.casefold() if isinstance(value, str) else value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# what makes a post public, for the pages: posted, its owner not banned, and a remix only
# while its original is public; the joins bring its job, its chosen track and its owner
# (a forgotten person's rows are gone)
_PUBLIC_FROM = """posts p JOIN jobs j ON j.id = p.job_id
    JOIN tracks t ON t.job_id = p.job_id AND t.idx = p.track_idx
    JOIN users u ON u.id = p.user_id"""
_PUBLIC = f"""p.status = '{PostStatus.POSTED.value}'
    AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = p.user_id)
    AND {_ORIGINAL_PUBLIC}"""
_MOOD = "TRIM(json_extract(j.brief, '$.mood'))"  # the brief is JSON; its mood a string
# a post whose model text the channel withholds (a blocked word): its words match no
# filter and are never offered as one (``Store.withhold``)
_SHOWS_ITS_WORDS = """NOT immu_withheld(json_extract(j.brief, '$.description'), t.genre,
    json_extract(j.brief, '$.mood'), json_extract(j.captions, '$[0]'), t.prompt)"""
# the person's name shows on a post only if it went out with it (``named``)
_NAMED = "p.named = 1"


def _in(values: Sequence[str]) -> str:
    """``IN (...)`` for a fixed set of statuses: our own constants, never user input."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Store:
    """Async access to the SQLite store. Open with ``await Store.open(path)``."""

    def __init__(self, db: aiosqlite.Connection, path: Path, data_dir: Path | None = None) -> None:
        self._db = db
        self.path = path
        # the folder the stored file paths are relative to: where the store lies
        self.data_dir = data_dir if data_dir is not None else path.parent
        # one connection: a statement of another task must never land inside a transaction
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, data_dir: Path | None = None) -> Store:
        """Open (and upgrade) the store at ``path``. ``data_dir``: the folder its files
        lie under, when that is not the store's own (a backup's snapshot being upgraded).
        A store of a newer IMMU is refused before SQLite opens it (``StoreTooNew``)."""
        refuse_newer(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        db.row_factory = aiosqlite.Row
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.create_function("immu_fold", 1, _fold, deterministic=True)
            await db.create_function("immu_withheld", 5, _nothing_withheld, deterministic=True)
            store = cls(db, path, data_dir)
            await store._migrate()
        except StoreTooNew:
            await db.close()
            raise
        except (sqlite3.Error, StoreError) as exc:
            await db.close()
            raise StoreError(f"cannot use the store at {path}: {exc}") from exc
        return store

    async def close(self) -> None:
        await self._db.close()

    async def withhold(self, withheld: Callable[[str, str, str, str, str], bool]) -> None:
        """What the channel withholds of a post's model text: ``withheld(description,
        genre, mood, photo, music)`` is true for text it never shows (a blocked word). Such
        a post matches no mood or genre filter, and its words are never offered as one.
        Until told, nothing is withheld. Where ``withheld`` fails, the post is withheld
        (the safe side) and the read goes on; one line is logged until it answers again."""
        failing = False

        def check(*values: object) -> int:
            nonlocal failing
            try:
                verdict = int(withheld(*(str(v) if v is not None else "" for v in values)))
            except Exception as exc:  # an exception here would end the whole read
                if not failing:
                    log.warning(
                        "withheld check failed, post withheld: %s: %s", type(exc).__name__, exc
                    )
                failing = True
                return 1
            failing = False
            return verdict

        async with self._lock, self._errors("read"):
            await self._db.create_function("immu_withheld", 5, check, deterministic=True)

    async def _migrate(self) -> None:
        (version,) = await self._one("PRAGMA user_version")
        if version > len(MIGRATIONS):  # the header said otherwise: a WAL not yet folded in
            raise StoreTooNew(_too_new(self.path, version))
        if version == len(MIGRATIONS):
            return
        if version > 0:  # a store with rows: keep it as it was, for a way back
            await self._copy_before(version + 1)
        # migration 6 makes file paths relative to this folder
        prefix = str(self.data_dir.resolve()) + os.sep
        await self._db.create_function("immu_data_dir", 0, lambda: prefix, deterministic=True)
        # a migration may rebuild a table: dropping the old one must not cascade
        await self._db.execute("PRAGMA foreign_keys=OFF")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._db.executescript(
                f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;"
            )
            log.info("store migrated version=%d", number)
        broken = await self._all("PRAGMA foreign_key_check")
        if broken:
            raise StoreError(f"migration left {len(broken)} rows without their parent")
        await self._db.execute("PRAGMA foreign_keys=ON")

    async def _copy_before(self, number: int) -> None:
        """``immu.db.before-vN`` beside the store: the store as it was before migration N
        (the first this start applies), consistent (SQLite's backup API), so an operator
        can go back to the IMMU that wrote it. No copy, no upgrade."""
        copy = self.path.with_name(f"{self.path.name}.before-v{number}")
        tmp = copy.with_name(copy.name + ".partial")
        try:
            tmp.unlink(missing_ok=True)
            async with aiosqlite.connect(tmp) as target:
                await self._db.backup(target)
            tmp.replace(copy)
        except (OSError, sqlite3.Error) as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(
                f"cannot copy the store to {copy} before upgrading it to version {number}"
                f" (free some disk space?); the store is unchanged: {exc}"
            ) from exc
        log.info("store copied before upgrade version=%d copy=%s", number, copy)

    # --- the five ways to talk to SQLite; each maps its errors to StoreError ---

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        async with (
            self._lock,
            self._errors("read"),
            self._db.execute(sql, tuple(params)) as cursor,
        ):
            return await cursor.fetchone()

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with (
            self._lock,
            self._errors("read"),
            self._db.execute(sql, tuple(params)) as cursor,
        ):
            return list(await cursor.fetchall())

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one change; returns the rows it touched (0 for an INSERT that did nothing)."""
        async with (
            self._lock,
            self._errors("written"),
            self._db.execute(sql, tuple(params)) as cursor,
        ):
            return cursor.rowcount

    async def _insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Insert one row; returns its id."""
        async with (
            self._lock,
            self._errors("written"),
            self._db.execute(sql, tuple(params)) as cursor,
        ):
            assert cursor.rowcount == 1 and cursor.lastrowid is not None, sql
            return cursor.lastrowid

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Several statements that land together or not at all."""
        async with self._lock, self._errors("written"):
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    @asynccontextmanager
    async def _errors(self, what: str) -> AsyncIterator[None]:
        try:
            yield
        except sqlite3.Error as exc:  # disk full, read-only, locked, corrupt
            raise StoreError(f"the store cannot be {what}: {exc}") from exc

    # --- users ---

    async def upsert_user(self, user_id: int, first_name: str, telegram_language: str = "") -> User:
        await self._write(
            """INSERT INTO users (id, first_name, telegram_language, created_at) VALUES (?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET first_name = excluded.first_name,
               telegram_language = excluded.telegram_language""",
            (user_id, first_name[:64], (telegram_language or "")[:16], _now()),
        )
        user = await self.get_user(user_id)
        assert user is not None
        return user

    async def get_user(self, user_id: int) -> User | None:
        row = await self._one("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(row) if row is not None else None

    async def set_language(self, user_id: int, language: str) -> None:
        await self._write("UPDATE users SET language = ? WHERE id = ?", (language, user_id))

    async def toggle_anonymous(self, user_id: int) -> bool:
        await self._write("UPDATE users SET anonymous = 1 - anonymous WHERE id = ?", (user_id,))
        (value,) = await self._one("SELECT anonymous FROM users WHERE id = ?", (user_id,))
        return bool(value)

    async def toggle_describe(self, user_id: int) -> bool:
        await self._write("UPDATE users SET describe = 1 - describe WHERE id = ?", (user_id,))
        (value,) = await self._one("SELECT describe FROM users WHERE id = ?", (user_id,))
        return bool(value)

    # --- jobs ---

    async def create_job(
        self,
        user_id: int,
        chat_id: int,
        photo_path: str,
        seed: int,
        remix_post_id: int | None = None,
    ) -> Job:
        now = _now()
        job_id = await self._insert(
            """INSERT INTO jobs (user_id, chat_id, photo_path, seed, status, created_at, updated_at,
               remix_post_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (user_id, chat_id, photo_path, seed, JobStatus.QUEUED, now, now, remix_post_id),
        )
        job = await self.get_job(job_id)
        assert job is not None
        return job

    async def get_job(self, job_id: int) -> Job | None:
        row = await self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(row) if row else None

    async def set_job_status(
        self, job_id: int, status: JobStatus, error: str | None = None
    ) -> None:
        await self._write(
            "UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
            (status, error, _now(), job_id),
        )

    async def start_attempt(self, job_id: int) -> int:
        """Mark a job running and count the attempt; returns the attempt number."""
        await self._write(
            "UPDATE jobs SET status = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
            (JobStatus.RUNNING, _now(), job_id),
        )
        (attempts,) = await self._one("SELECT attempts FROM jobs WHERE id = ?", (job_id,))
        return int(attempts)

    async def cancel_if(self, job_id: int, status: JobStatus) -> bool:
        """Cancel a job only if it still is in ``status``; True if it was cancelled."""
        changed = await self._write(
            "UPDATE jobs SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            (JobStatus.CANCELLED, _now(), job_id, status),
        )
        return changed > 0

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        await self._write(
            "UPDATE jobs SET status_message_id = ? WHERE id = ?", (message_id, job_id)
        )

    async def set_result_message(self, job_id: int, message_id: int) -> None:
        await self._write(
            "UPDATE jobs SET result_message_id = ? WHERE id = ?", (message_id, job_id)
        )

    async def queue_position(self, job_id: int) -> int:
        """1 for the job being worked on next, counting jobs accepted before it."""
        (ahead,) = await self._one(
            f"SELECT COUNT(*) FROM jobs WHERE status IN {_in(ACTIVE)} AND id < ?", (job_id,)
        )
        return int(ahead) + 1

    async def count_active(self, user_id: int | None = None) -> int:
        if user_id is None:
            row = await self._one(f"SELECT COUNT(*) FROM jobs WHERE status IN {_in(ACTIVE)}")
        else:
            row = await self._one(
                f"SELECT COUNT(*) FROM jobs WHERE status IN {_in(ACTIVE)} AND user_id = ?",
                (user_id,),
            )
        return int(row[0])

    async def count_jobs_since(self, user_id: int, since: datetime) -> int:
        (count,) = await self._one(
            "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND created_at >= ?",
            (user_id, since.isoformat(timespec="seconds")),
        )
        return int(count)

    async def unfinished_jobs(self) -> list[Job]:
        """Jobs accepted but not yet delivered, oldest first: what a restart resumes."""
        rows = await self._all(f"SELECT * FROM jobs WHERE status IN {_in(UNFINISHED)} ORDER BY id")
        return [_job(row) for row in rows]

    async def save_result(
        self,
        job_id: int,
        captions: Sequence[str],
        brief: StoredBrief,
        cover_path: str,
        tracks: list[TrackRow],
    ) -> None:
        """Record a finished composition and its files, all or nothing."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM tracks WHERE job_id = ?", (job_id,))
            await db.executemany(
                """INSERT INTO tracks (job_id, idx, genre, prompt, seed, duration_s, mp3_path,
                   png_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (job_id, t.idx, t.genre, t.prompt, t.seed, t.duration_s, t.mp3_path, t.png_path)
                    for t in tracks
                ],
            )
            await db.execute(
                """UPDATE jobs SET status = ?, captions = ?, brief = ?, cover_path = ?,
                   error = NULL, updated_at = ? WHERE id = ?""",
                (
                    JobStatus.DONE,
                    json.dumps(list(captions), ensure_ascii=False),
                    json.dumps(asdict(brief), ensure_ascii=False),
                    cover_path,
                    _now(),
                    job_id,
                ),
            )

    async def tracks(self, job_id: int) -> list[TrackRow]:
        rows = await self._all("SELECT * FROM tracks WHERE job_id = ? ORDER BY idx", (job_id,))
        return [TrackRow(**dict(row)) for row in rows]

    async def track(self, job_id: int, idx: int) -> TrackRow | None:
        row = await self._one("SELECT * FROM tracks WHERE job_id = ? AND idx = ?", (job_id, idx))
        return TrackRow(**dict(row)) if row else None

    async def count_delivery_attempt(self, job_id: int) -> int:
        """Count one more try to send a job's tracks; returns the tries so far."""
        await self._write(
            "UPDATE jobs SET delivery_attempts = delivery_attempts + 1 WHERE id = ?", (job_id,)
        )
        (attempts,) = await self._one("SELECT delivery_attempts FROM jobs WHERE id = ?", (job_id,))
        return int(attempts)

    async def set_track_message(self, job_id: int, idx: int, message_id: int) -> None:
        await self._write(
            "UPDATE tracks SET message_id = ? WHERE job_id = ? AND idx = ?",
            (message_id, job_id, idx),
        )

    async def photo_in_use(self, photo_path: str) -> bool:
        (count,) = await self._one("SELECT COUNT(*) FROM jobs WHERE photo_path = ?", (photo_path,))
        return int(count) > 0

    # --- posts and likes ---

    async def claim_post(
        self, job_id: int, track_idx: int, user_id: int, status: PostStatus = PostStatus.PENDING
    ) -> Post:
        """The one post of a job: created on the first choice (as ``status``: pending, or
        review when an operator decides first), returned as is after."""
        await self._write(
            """INSERT INTO posts (job_id, track_idx, user_id, status, created_at)
               VALUES (?, ?, ?, ?, ?) ON CONFLICT(job_id) DO NOTHING""",
            (job_id, track_idx, user_id, status, _now()),
        )
        post = await self.post_for_job(job_id)
        assert post is not None
        return post

    async def post_for_job(self, job_id: int) -> Post | None:
        row = await self._one("SELECT * FROM posts WHERE job_id = ?", (job_id,))
        return _post(row) if row else None

    async def get_post(self, post_id: int) -> Post | None:
        row = await self._one("SELECT * FROM posts WHERE id = ?", (post_id,))
        return _post(row) if row else None

    async def count_post_attempt(self, post_id: int) -> int:
        """Count one more try to post; returns the number of tries so far."""
        await self._write("UPDATE posts SET attempts = attempts + 1 WHERE id = ?", (post_id,))
        (attempts,) = await self._one("SELECT attempts FROM posts WHERE id = ?", (post_id,))
        return int(attempts)

    async def set_post_status(self, post_id: int, status: PostStatus) -> None:
        """A post that ended without a channel message (failed) or may have one (unknown)."""
        await self._write("UPDATE posts SET status = ? WHERE id = ?", (status, post_id))

    async def repost(self, post_id: int) -> bool:
        """The person asks again for a post that failed or went unconfirmed: back in line
        with fresh tries. True if it was such a post."""
        changed = await self._write(
            f"""UPDATE posts SET status = ?, attempts = 0 WHERE id = ?
                AND status IN {_in((PostStatus.FAILED, PostStatus.UNKNOWN))}""",
            (PostStatus.PENDING, post_id),
        )
        return changed > 0

    async def mark_posted(self, post_id: int, channel_message_id: int) -> None:
        await self._write(
            "UPDATE posts SET status = ?, channel_message_id = ?, posted_at = ? WHERE id = ?",
            (PostStatus.POSTED, channel_message_id, _now(), post_id),
        )

    async def set_post_shown(self, post_id: int, named: bool, described: bool) -> None:
        """Whether the post goes to the channel with its owner's name (``named``) and the
        words about the photo (``described``): set with its caption, before it is sent. The
        pages and shares show either only while the owner still chooses it too."""
        await self._write(
            "UPDATE posts SET named = ?, described = ? WHERE id = ?",
            (int(named), int(described), post_id),
        )

    async def set_post_file(self, post_id: int, file_id: str, file_kind: str) -> None:
        """The channel post's file as Telegram keeps it (``file_kind``: audio or video):
        what an inline share sends, with no upload."""
        await self._write(
            "UPDATE posts SET file_id = ?, file_kind = ? WHERE id = ?",
            (file_id, file_kind, post_id),
        )

    async def shareable_posts_of(
        self, user_id: int, before: int | None = None, limit: int = 50
    ) -> list[Post]:
        """The person's public posts with a kept file, newest first, ids below ``before``;
        none while they are banned."""
        rows = await self._all(
            f"""SELECT p.* FROM posts p WHERE p.user_id = ? AND {_SHAREABLE}
                ORDER BY p.id DESC LIMIT ?""",
            (user_id, PostStatus.POSTED, before or _NO_ID_ABOVE, limit),
        )
        return [_post(row) for row in rows]

    async def shareable_posts_matching(
        self, word: str, before: int | None = None, limit: int = 50
    ) -> list[Post]:
        """Public posts with a kept file whose genre or mood holds ``word`` (any case),
        newest first, ids below ``before``; banned people's never."""
        rows = await self._all(
            f"""SELECT p.* FROM posts p
                JOIN tracks t ON t.job_id = p.job_id AND t.idx = p.track_idx
                JOIN jobs j ON j.id = p.job_id
                WHERE (instr(immu_fold(t.genre), ?) > 0
                       OR instr(immu_fold(json_extract(j.brief, '$.mood')), ?) > 0)
                AND {_SHAREABLE} ORDER BY p.id DESC LIMIT ?""",
            (word.casefold(), word.casefold(), PostStatus.POSTED, before or _NO_ID_ABOVE, limit),
        )
        return [_post(row) for row in rows]

    async def pending_posts(self) -> list[Post]:
        rows = await self._all(
            "SELECT * FROM posts WHERE status = ? ORDER BY id", (PostStatus.PENDING,)
        )
        return [_post(row) for row in rows]

    async def set_reactions(
        self, channel_message_id: int, counts: dict[str, int], likes: int
    ) -> Post | None:
        """Replace a post's reaction counts (Telegram sends totals) and its likes (the
        caller says which reactions count)."""
        row = await self._one(
            "SELECT id FROM posts WHERE channel_message_id = ?", (channel_message_id,)
        )
        if row is None:
            return None
        post_id = row["id"]
        async with self._transaction() as db:
            await db.execute("DELETE FROM reactions WHERE post_id = ?", (post_id,))
            await db.executemany(
                "INSERT INTO reactions (post_id, emoji, count) VALUES (?, ?, ?)",
                [(post_id, emoji, n) for emoji, n in counts.items() if n > 0],
            )
            await db.execute("UPDATE posts SET likes = ? WHERE id = ?", (likes, post_id))
        return await self.get_post(post_id)

    async def recount_likes(self, liked: Sequence[str]) -> None:
        """Likes again from the stored reactions, for the emoji in ``liked`` (written without
        U+FE0F): an operator may change which reactions count."""
        marks = ", ".join("?" for _ in liked) or "NULL"
        await self._write(
            f"""UPDATE posts SET likes = (SELECT COALESCE(SUM(count), 0) FROM reactions r
                WHERE r.post_id = posts.id AND REPLACE(r.emoji, char(65039), '') IN ({marks}))""",
            tuple(liked),
        )

    async def user_posts(
        self, user_id: int, statuses: tuple[PostStatus, ...] = (PostStatus.POSTED,)
    ) -> list[PostView]:
        """The person's posts in ``statuses`` (the public ones unless told), newest first."""
        rows = await self._all(
            f"""SELECT p.id, p.channel_message_id, t.genre, p.likes, p.created_at, p.status
               FROM posts p JOIN tracks t ON t.job_id = p.job_id AND t.idx = p.track_idx
               WHERE p.user_id = ? AND p.status IN {_in(statuses)} ORDER BY p.id DESC""",
            (user_id,),
        )
        return [PostView(**dict(row)) for row in rows]

    async def top_posts(self, since: datetime, limit: int = 10) -> list[PostView]:
        rows = await self._all(
            """SELECT p.id, p.channel_message_id, t.genre, p.likes, p.created_at
               FROM posts p JOIN tracks t ON t.job_id = p.job_id AND t.idx = p.track_idx
               WHERE p.status = ? AND p.posted_at >= ? AND p.likes > 0
               ORDER BY p.likes DESC, p.id LIMIT ?""",
            (PostStatus.POSTED, since.isoformat(timespec="seconds"), limit),
        )
        return [PostView(**dict(row)) for row in rows]

    # --- the pages: public posts as the Mini App shows them ---
    # Public: posted, its owner not banned (a forgotten person's rows are gone).

    async def public_posts(
        self,
        limit: int,
        before: int | None = None,
        mood: str | None = None,
        genre: str | None = None,
    ) -> list[PublicPost]:
        """Public posts, newest first; ``before``: only older than that post id; ``mood``
        and ``genre`` match case-insensitively, never a post whose model text is withheld."""
        where: list[str] = ["1"]
        params: list[Any] = []
        if before is not None:
            where.append("p.id < ?")
            params.append(before)
        if mood:
            where.append(f"immu_fold({_MOOD}) = immu_fold(TRIM(?))")
            params.append(mood)
        if genre:
            where.append("immu_fold(TRIM(t.genre)) = immu_fold(TRIM(?))")
            params.append(genre)
        if mood or genre:
            where.append(_SHOWS_ITS_WORDS)
        return await self._public(" AND ".join(where), params, "p.id DESC", limit)

    async def public_top(self, since: datetime, limit: int) -> list[PublicPost]:
        """The most liked public posts posted since ``since`` (as ``top_posts``)."""
        return await self._public(
            "p.posted_at >= ? AND p.likes > 0",
            [since.isoformat(timespec="seconds")],
            "p.likes DESC, p.id",
            limit,
        )

    async def public_post(self, post_id: int) -> PublicPost | None:
        found = await self._public("p.id = ?", [post_id], "p.id", 1)
        return found[0] if found else None

    async def public_posts_of(
        self, user_id: int, limit: int, named_only: bool = False
    ) -> list[PublicPost]:
        """The person's public posts, newest first (their remixes included); with
        ``named_only``, only those that went out with their name."""
        where = f"p.user_id = ? AND {_NAMED}" if named_only else "p.user_id = ?"
        return await self._public(where, [user_id], "p.id DESC", limit)

    async def people_showing_names(self) -> list[int]:
        """Who shows their name (``anonymous`` off), banned or not: the people whose profile
        others may open while they are not banned (``is_banned``, asked when one is)."""
        rows = await self._all("SELECT u.id FROM users u WHERE u.anonymous = 0")
        return [int(row["id"]) for row in rows]

    async def public_likes_of(self, user_id: int, named_only: bool = False) -> int:
        named = f"AND {_NAMED}" if named_only else ""
        (likes,) = await self._one(
            f"""SELECT COALESCE(SUM(p.likes), 0) FROM {_PUBLIC_FROM}
                WHERE {_PUBLIC} AND p.user_id = ? {named}""",
            (user_id,),
        )
        return int(likes)

    async def public_remixes_by(
        self, user_id: int, limit: int, named_only: bool = False
    ) -> list[PublicPost]:
        """The person's public remixes of others' posts, newest first; with
        ``named_only``, only those that went out with their name."""
        named = f"AND {_NAMED}" if named_only else ""
        return await self._public(
            f"""p.user_id = ? AND j.remix_post_id IS NOT NULL {named}
               AND (SELECT o.user_id FROM posts o WHERE o.id = j.remix_post_id) IS NOT p.user_id""",
            [user_id],
            "p.id DESC",
            limit,
        )

    async def public_remixes_of_user(
        self, user_id: int, limit: int, named_only: bool = False
    ) -> list[PublicPost]:
        """Others' public remixes of the person's posts, newest first; with
        ``named_only``, only remixes of posts that went out with their name."""
        named = "AND o.named = 1" if named_only else ""
        return await self._public(
            f"""p.user_id != ?
               AND j.remix_post_id IN (SELECT o.id FROM posts o WHERE o.user_id = ? {named})""",
            [user_id, user_id],
            "p.id DESC",
            limit,
        )

    async def public_remixes_of(self, post_id: int, limit: int) -> list[PublicPost]:
        """The public remixes of one post, newest first."""
        return await self._public("j.remix_post_id = ?", [post_id], "p.id DESC", limit)

    async def common_moods(self, limit: int) -> list[str]:
        """The moods of public posts, most common first, one spelling per value; none of
        a post whose model text is withheld."""
        return await self._common(_MOOD, limit)

    async def common_genres(self, limit: int) -> list[str]:
        """The genres of public posts, most common first, one spelling per value; none of
        a post whose model text is withheld."""
        return await self._common("TRIM(t.genre)", limit)

    async def _common(self, column: str, limit: int) -> list[str]:
        rows = await self._all(
            f"""SELECT MIN(v) AS value, COUNT(*) AS n
                FROM (SELECT {column} AS v FROM {_PUBLIC_FROM}
                      WHERE {_PUBLIC} AND {_SHOWS_ITS_WORDS})
                WHERE v IS NOT NULL AND v != '' GROUP BY immu_fold(v)
                ORDER BY n DESC, value LIMIT ?""",
            (limit,),
        )
        return [str(row["value"]) for row in rows]

    async def _public(
        self, where: str, params: Sequence[Any], order: str, limit: int
    ) -> list[PublicPost]:
        """Public posts ``where`` picks, with their jobs, tracks and owners: read under one
        hold of the connection, so no write lands between the four reads."""
        async with self._lock, self._errors("read"):
            async with self._db.execute(
                f"""SELECT p.* FROM {_PUBLIC_FROM} WHERE {_PUBLIC} AND ({where})
                    ORDER BY {order} LIMIT ?""",
                (*params, limit),
            ) as cursor:
                posts = [_post(row) for row in await cursor.fetchall()]
            if not posts:
                return []
            marks = ", ".join("?" * len(posts))
            ids = [post.id for post in posts]
            async with self._db.execute(
                f"SELECT j.* FROM jobs j JOIN posts p ON p.job_id = j.id WHERE p.id IN ({marks})",
                ids,
            ) as cursor:
                jobs = {row["id"]: _job(row) for row in await cursor.fetchall()}
            async with self._db.execute(
                f"""SELECT t.* FROM tracks t JOIN posts p ON t.job_id = p.job_id
                    AND t.idx = p.track_idx WHERE p.id IN ({marks})""",
                ids,
            ) as cursor:
                tracks = {row["job_id"]: TrackRow(**dict(row)) for row in await cursor.fetchall()}
            async with self._db.execute(
                f"SELECT u.* FROM users u JOIN posts p ON p.user_id = u.id WHERE p.id IN ({marks})",
                ids,
            ) as cursor:
                owners = {row["id"]: _user(row) for row in await cursor.fetchall()}
        return [
            PublicPost(post, jobs[post.job_id], tracks[post.job_id], owners[post.user_id])
            for post in posts
        ]

    async def delete_post(self, post_id: int, user_id: int) -> Post | None:
        """Remove one of ``user_id``'s posts; None if it is not theirs (or gone)."""
        post = await self.get_post(post_id)
        if post is None or post.user_id != user_id:
            return None
        await self._write("DELETE FROM posts WHERE id = ?", (post_id,))
        return post

    # --- moderation: held posts, reports, bans, the operators' messages ---

    async def move_post(self, post_id: int, was: PostStatus, now: PostStatus) -> bool:
        """Change a post's status only if it still is ``was``; True if it changed. An
        operator's decision lands once, however often it is tapped."""
        changed = await self._write(
            "UPDATE posts SET status = ?, attempts = 0 WHERE id = ? AND status = ?",
            (now, post_id, was),
        )
        return changed > 0

    async def hide_post(self, post_id: int) -> bool:
        """A posted post taken down after reports: hidden from now, no channel message."""
        changed = await self._write(
            """UPDATE posts SET status = ?, channel_message_id = NULL, hidden_at = ?
               WHERE id = ? AND status = ?""",
            (PostStatus.HIDDEN, _now(), post_id, PostStatus.POSTED),
        )
        return changed > 0

    async def hidden_before(self, cutoff: datetime) -> list[Post]:
        """Posts hidden after reports since before ``cutoff``, still waiting for a decision."""
        rows = await self._all(
            "SELECT * FROM posts WHERE status = ? AND hidden_at < ? ORDER BY id",
            (PostStatus.HIDDEN, cutoff.isoformat(timespec="seconds")),
        )
        return [_post(row) for row in rows]

    async def add_report(self, post_id: int, reporter: str) -> int | None:
        """Record one report of a post; the post's report count after it, or None if this
        reporter had reported it already."""
        async with self._transaction() as db:
            cursor = await db.execute(
                """INSERT INTO reports (post_id, reporter, created_at) VALUES (?, ?, ?)
                   ON CONFLICT(post_id, reporter) DO NOTHING""",
                (post_id, reporter, _now()),
            )
            if cursor.rowcount == 0:
                return None
            async with db.execute(
                "SELECT COUNT(*) FROM reports WHERE post_id = ?", (post_id,)
            ) as counted:
                (count,) = await counted.fetchone()  # type: ignore[misc]
            return int(count)

    async def drop_reports_by(self, reporter: str) -> int:
        """Forget every report of one reader (a banned person's reports never count);
        returns how many there were."""
        return await self._write("DELETE FROM reports WHERE reporter = ?", (reporter,))

    async def report_summary(self) -> ReportSummary:
        (posts,) = await self._one("SELECT COUNT(DISTINCT post_id) FROM reports")
        top = await self._one(
            """SELECT post_id, COUNT(*) AS n FROM reports GROUP BY post_id
               ORDER BY n DESC, post_id LIMIT 1"""
        )
        if top is None:
            return ReportSummary(posts=0, top_post=None, top_count=0)
        return ReportSummary(int(posts), int(top["post_id"]), int(top["n"]))

    async def ban(self, user_id: int, banned_by: int) -> bool:
        """True if the person was not banned before."""
        changed = await self._write(
            """INSERT INTO bans (user_id, banned_by, created_at) VALUES (?, ?, ?)
               ON CONFLICT(user_id) DO NOTHING""",
            (user_id, banned_by, _now()),
        )
        return changed > 0

    async def unban(self, user_id: int) -> bool:
        return await self._write("DELETE FROM bans WHERE user_id = ?", (user_id,)) > 0

    async def is_banned(self, user_id: int) -> bool:
        return await self._one("SELECT 1 FROM bans WHERE user_id = ?", (user_id,)) is not None

    async def cancel_queued(self, user_id: int) -> list[Job]:
        """End every job of the person still waiting in line; returns them."""
        async with self._transaction() as db:
            async with db.execute(
                "SELECT * FROM jobs WHERE user_id = ? AND status = ?", (user_id, JobStatus.QUEUED)
            ) as cursor:
                jobs = [_job(row) for row in await cursor.fetchall()]
            await db.execute(
                "UPDATE jobs SET status = ?, updated_at = ? WHERE user_id = ? AND status = ?",
                (JobStatus.CANCELLED, _now(), user_id, JobStatus.QUEUED),
            )
        return jobs

    async def posts_of(self, user_id: int) -> list[Post]:
        """Every post of the person, whatever its status."""
        rows = await self._all("SELECT * FROM posts WHERE user_id = ? ORDER BY id", (user_id,))
        return [_post(row) for row in rows]

    async def add_review(self, post_id: int, chat_id: int, message_id: int, reason: str) -> None:
        await self._write(
            "INSERT INTO reviews (post_id, chat_id, message_id, reason) VALUES (?, ?, ?, ?)",
            (post_id, chat_id, message_id, reason),
        )

    async def reviews_of(self, post_id: int) -> list[tuple[int, int, str]]:
        """The operators' messages about a post, as (chat id, message id, reason)."""
        rows = await self._all(
            "SELECT chat_id, message_id, reason FROM reviews WHERE post_id = ?", (post_id,)
        )
        return [(int(r["chat_id"]), int(r["message_id"]), str(r["reason"])) for r in rows]

    async def drop_reviews(self, post_id: int) -> None:
        """Forget the operators' messages about a post (they were deleted)."""
        await self._write("DELETE FROM reviews WHERE post_id = ?", (post_id,))

    async def unsent_reviews(self) -> list[Post]:
        """Held posts whose operators' message never went out (a refusal, a restart)."""
        rows = await self._all(
            f"""SELECT * FROM posts p WHERE p.status IN {_in(HELD)}
                AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.post_id = p.id) ORDER BY p.id"""
        )
        return [_post(row) for row in rows]

    # --- privacy and retention ---

    async def job_ids_of(self, user_id: int) -> list[int]:
        rows = await self._all("SELECT id FROM jobs WHERE user_id = ?", (user_id,))
        return [int(row["id"]) for row in rows]

    async def forget_user(self, user_id: int) -> list[str]:
        """Delete a person and everything of theirs, all or nothing; returns the files
        to remove. (Others' remixes of their posts are the caller's: ``remixes_of``.)"""
        async with self._transaction() as db:
            paths = await _files_of(db, "j.user_id = ?", (user_id,))
            await db.execute("DELETE FROM posts WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM users WHERE id = ?", (user_id,))  # cascades to jobs
            return await _unreferenced(db, paths)

    async def remixes_of(self, post_ids: Sequence[int]) -> list[Job]:
        """Every job that remixes one of ``post_ids``, whatever its status."""
        if not post_ids:
            return []
        marks = ", ".join("?" * len(post_ids))
        rows = await self._all(
            f"SELECT * FROM jobs WHERE remix_post_id IN ({marks}) ORDER BY id", tuple(post_ids)
        )
        return [_job(row) for row in rows]

    async def cancel_queued_remixes(self, post_ids: Sequence[int]) -> list[Job]:
        """End every remix of ``post_ids`` still waiting in line; returns them."""
        if not post_ids:
            return []
        where = f"remix_post_id IN ({', '.join('?' * len(post_ids))}) AND status = ?"
        params = (*post_ids, JobStatus.QUEUED)
        async with self._transaction() as db:
            async with db.execute(
                f"SELECT * FROM jobs WHERE {where} ORDER BY id", params
            ) as cursor:
                jobs = [_job(row) for row in await cursor.fetchall()]
            await db.execute(
                f"UPDATE jobs SET status = ?, updated_at = ? WHERE {where}",
                (JobStatus.CANCELLED, _now(), *params),
            )
        return jobs

    async def delete_jobs(self, job_ids: Sequence[int]) -> list[str]:
        """Delete jobs with their tracks and posts, all or nothing; returns the files to
        remove (a photo another job still uses stays)."""
        if not job_ids:
            return []
        where = f"j.id IN ({', '.join('?' * len(job_ids))})"
        ids = tuple(job_ids)
        async with self._transaction() as db:
            paths = await _files_of(db, where, ids)
            await db.execute(f"DELETE FROM jobs AS j WHERE {where}", ids)
            return await _unreferenced(db, paths)

    async def expire_unchosen(self, older_than_days: int) -> list[str]:
        """Drop the tracks of finished jobs nobody posted; returns the files to remove
        (a photo that a kept job still uses stays)."""
        cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="seconds")
        where = f"""j.status IN {_in(FINISHED)} AND j.updated_at < ?
                    AND NOT EXISTS (SELECT 1 FROM posts p WHERE p.job_id = j.id)"""
        async with self._transaction() as db:
            paths = await _files_of(db, where, (cutoff,))
            await db.execute(f"DELETE FROM jobs AS j WHERE {where}", (cutoff,))
            return await _unreferenced(db, paths)

    async def file_paths(self) -> list[str]:
        """Every file the store refers to (photos, covers, tracks), as stored: what a
        backup must hold beside the store."""
        rows = await self._all(
            """SELECT photo_path AS path FROM jobs
               UNION SELECT cover_path FROM jobs WHERE cover_path IS NOT NULL
               UNION SELECT mp3_path FROM tracks UNION SELECT png_path FROM tracks ORDER BY path"""
        )
        return [str(row["path"]) for row in rows]

    async def meta_keys(self, prefix: str) -> list[str]:
        rows = await self._all(
            "SELECT key FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix)
        )
        return [str(row["key"]) for row in rows]

    async def delete_meta(self, key: str) -> None:
        await self._write("DELETE FROM meta WHERE key = ?", (key,))

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row["value"]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def stats(self) -> dict[str, int]:
        rows = await self._all("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        counts = {str(row["status"]): int(row["n"]) for row in rows}
        (posts,) = await self._one(
            "SELECT COUNT(*) FROM posts WHERE status = ?", (PostStatus.POSTED,)
        )
        (users,) = await self._one("SELECT COUNT(*) FROM users")
        return {**counts, "posts": int(posts), "users": int(users)}


async def _files_of(db: aiosqlite.Connection, where: str, params: tuple[Any, ...]) -> list[str]:
    """The files of the jobs ``where`` picks, as stored: relative to the data folder (the
    bot's ``FileStore`` resolves them), compared as strings with other jobs' paths."""
    async with db.execute(
        f"""SELECT t.mp3_path AS path FROM tracks t JOIN jobs j ON j.id = t.job_id WHERE {where}
            UNION SELECT t.png_path FROM tracks t JOIN jobs j ON j.id = t.job_id WHERE {where}
            UNION SELECT j.cover_path FROM jobs j WHERE {where} AND j.cover_path IS NOT NULL
            UNION SELECT j.photo_path FROM jobs j WHERE {where}""",
        params * 4,
    ) as cursor:
        return [row["path"] for row in await cursor.fetchall()]


async def _unreferenced(db: aiosqlite.Connection, paths: list[str]) -> list[str]:
    """Of the files of deleted jobs, those no remaining job uses (a photo is shared by
    "new tracks" jobs)."""
    kept = []
    for path in paths:
        async with db.execute(
            "SELECT 1 FROM jobs WHERE photo_path = ? OR cover_path = ? LIMIT 1", (path, path)
        ) as cursor:
            if await cursor.fetchone() is None:
                kept.append(path)
    return kept


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        first_name=row["first_name"],
        language=row["language"],
        telegram_language=row["telegram_language"],
        anonymous=bool(row["anonymous"]),
        describe=bool(row["describe"]),
    )


def _job(row: Any) -> Job:
    data = dict(row)
    data.pop("updated_at", None)
    data["status"] = JobStatus(data["status"])
    data["captions"] = tuple(json.loads(data["captions"] or "[]"))
    brief = json.loads(data["brief"]) if data["brief"] else None
    data["brief"] = (
        StoredBrief(**{**brief, "genres": tuple(brief["genres"])}) if brief is not None else None
    )
    return Job(**data)


def _post(row: Any) -> Post:
    data = dict(row)
    data.pop("posted_at", None)
    data["status"] = PostStatus(data["status"])
    data["named"] = bool(data.get("named"))
    data["described"] = bool(data.get("described"))
    return Post(**data)


def _nothing_withheld(*values: object) -> int:
    """``immu_withheld`` until the bot says what the channel withholds (``withhold``)."""
    return 0
