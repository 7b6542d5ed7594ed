"""The store: users, jobs, tracks, posts and reactions in SQLite (aiosqlite, WAL).

Plain SQL, one named method per query, typed rows. The bot is its only writer.
Migrations are a numbered list applied by ``PRAGMA user_version``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE users (
        id          INTEGER PRIMARY KEY,           -- Telegram user id
        first_name  TEXT    NOT NULL DEFAULT '',
        language    TEXT,                          -- chosen with /lang; NULL: Telegram's
        telegram_language TEXT NOT NULL DEFAULT '', -- language_code Telegram last sent
        anonymous   INTEGER NOT NULL DEFAULT 1,    -- name shown on posts only if 0
        describe    INTEGER NOT NULL DEFAULT 1,    -- plain-language descriptions on posts
        created_at  TEXT    NOT NULL
    );
    CREATE TABLE jobs (
        id                INTEGER PRIMARY KEY,
        user_id           INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        chat_id           INTEGER NOT NULL,
        photo_path        TEXT    NOT NULL,
        seed              INTEGER NOT NULL,
        status            TEXT    NOT NULL CHECK (status IN
                            ('queued', 'running', 'done', 'delivered', 'failed', 'cancelled')),
        status_message_id INTEGER,      -- "queued, position N", edited as the job moves
        result_message_id INTEGER,      -- the message with the choice keyboard
        attempts          INTEGER NOT NULL DEFAULT 0,
        error             TEXT,
        captions          TEXT,         -- JSON list
        brief             TEXT,         -- JSON object
        cover_path        TEXT,
        created_at        TEXT    NOT NULL,
        updated_at        TEXT    NOT NULL
    );
    CREATE INDEX jobs_by_status ON jobs(status, id);
    CREATE INDEX jobs_by_user ON jobs(user_id, created_at);
    CREATE TABLE tracks (
        job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx         INTEGER NOT NULL,
        genre       TEXT    NOT NULL,
        prompt      TEXT    NOT NULL,
        seed        INTEGER NOT NULL,
        duration_s  REAL    NOT NULL,
        mp3_path    TEXT    NOT NULL,
        png_path    TEXT    NOT NULL,
        message_id  INTEGER,            -- the audio sent in the private chat
        PRIMARY KEY (job_id, idx)
    );
    CREATE TABLE posts (
        id                  INTEGER PRIMARY KEY,
        job_id              INTEGER NOT NULL UNIQUE REFERENCES jobs(id) ON DELETE CASCADE,
        track_idx           INTEGER NOT NULL,
        user_id             INTEGER NOT NULL,
        status              TEXT    NOT NULL CHECK (status IN ('pending', 'posted')),
        channel_message_id  INTEGER UNIQUE,
        attempts            INTEGER NOT NULL DEFAULT 0,
        likes               INTEGER NOT NULL DEFAULT 0,
        created_at          TEXT    NOT NULL,
        posted_at           TEXT
    );
    CREATE INDEX posts_by_user ON posts(user_id);
    CREATE TABLE reactions (
        post_id  INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        emoji    TEXT    NOT NULL,
        count    INTEGER NOT NULL,
        PRIMARY KEY (post_id, emoji)
    );
    """,
    # 2: remixes of channel posts, and small facts such as when the last digest went out
    """
    ALTER TABLE jobs ADD COLUMN remix_post_id INTEGER;
    CREATE TABLE meta (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );
    """,
]

ACTIVE = ("queued", "running")
UNFINISHED = ("queued", "running", "done")


class StoreError(Exception):
    """The store could not do what was asked; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    first_name: str
    language: str | None
    telegram_language: str
    anonymous: bool
    describe: bool


@dataclass(frozen=True)
class Job:
    id: int
    user_id: int
    chat_id: int
    photo_path: str
    seed: int
    status: str
    status_message_id: int | None
    result_message_id: int | None
    attempts: int
    error: str | None
    captions: str | None
    brief: str | None
    cover_path: str | None
    created_at: str
    remix_post_id: int | None = None


@dataclass(frozen=True)
class TrackRow:
    job_id: int
    idx: int
    genre: str
    prompt: str
    seed: int
    duration_s: float
    mp3_path: str
    png_path: str
    message_id: int | None = None


@dataclass(frozen=True)
class Post:
    id: int
    job_id: int
    track_idx: int
    user_id: int
    status: str
    channel_message_id: int | None
    attempts: int
    likes: int
    created_at: str


@dataclass(frozen=True)
class PostView:
    """A post with what a listing shows of it."""

    id: int
    channel_message_id: int | None
    genre: str
    likes: int
    created_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """Async access to the SQLite store. Open with ``await Store.open(path)``."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Store:
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
            store = cls(db, path)
            await store._migrate()
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(f"cannot use the store at {path}: {exc}") from exc
        return store

    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        (version,) = await self._one("PRAGMA user_version")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._db.executescript(
                f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;"
            )
            log.info("store migrated version=%d", number)

    # --- low-level helpers ---

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        async with self._db.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        async with self._db.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one change; returns the rows it touched."""
        try:
            async with self._db.execute(sql, tuple(params)) as cursor:
                return cursor.rowcount
        except sqlite3.OperationalError as exc:  # disk full, read-only, locked
            raise StoreError(f"the store cannot be written: {exc}") from exc

    async def _insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one INSERT; returns the new row's id."""
        try:
            async with self._db.execute(sql, tuple(params)) as cursor:
                assert cursor.lastrowid is not None
                return cursor.lastrowid
        except sqlite3.OperationalError as exc:
            raise StoreError(f"the store cannot be written: {exc}") from exc

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
        if row is None:
            return None
        return User(
            id=row["id"],
            first_name=row["first_name"],
            language=row["language"],
            telegram_language=row["telegram_language"],
            anonymous=bool(row["anonymous"]),
            describe=bool(row["describe"]),
        )

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
               remix_post_id) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)""",
            (user_id, chat_id, photo_path, seed, now, now, remix_post_id),
        )
        job = await self.get_job(job_id)
        assert job is not None
        return job

    async def get_job(self, job_id: int) -> Job | None:
        row = await self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(row) if row else None

    async def set_job_status(self, job_id: int, status: str, error: str | None = None) -> None:
        await self._write(
            "UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
            (status, error, _now(), job_id),
        )

    async def start_attempt(self, job_id: int) -> int:
        """Mark a job running and count the attempt; returns the attempt number."""
        await self._write(
            """UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ?
               WHERE id = ?""",
            (_now(), job_id),
        )
        (attempts,) = await self._one("SELECT attempts FROM jobs WHERE id = ?", (job_id,))
        return int(attempts)

    async def cancel_if_queued(self, job_id: int) -> bool:
        changed = await self._write(
            "UPDATE jobs SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'queued'",
            (_now(), job_id),
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
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running') AND id < ?",
            (job_id,),
        )
        return int(ahead) + 1

    async def count_active(self, user_id: int | None = None) -> int:
        if user_id is None:
            row = await self._one("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")
        else:
            row = await self._one(
                "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running') AND user_id = ?",
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
        rows = await self._all(
            "SELECT * FROM jobs WHERE status IN ('queued', 'running', 'done') ORDER BY id"
        )
        return [_job(row) for row in rows]

    async def save_result(
        self, job_id: int, captions: str, brief: str, cover_path: str, tracks: list[TrackRow]
    ) -> None:
        """Record a finished composition and its files in one transaction."""
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            await self._db.execute("DELETE FROM tracks WHERE job_id = ?", (job_id,))
            await self._db.executemany(
                """INSERT INTO tracks (job_id, idx, genre, prompt, seed, duration_s, mp3_path,
                   png_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (job_id, t.idx, t.genre, t.prompt, t.seed, t.duration_s, t.mp3_path, t.png_path)
                    for t in tracks
                ],
            )
            await self._db.execute(
                """UPDATE jobs SET status = 'done', captions = ?, brief = ?, cover_path = ?,
                   error = NULL, updated_at = ? WHERE id = ?""",
                (captions, brief, cover_path, _now(), job_id),
            )
            await self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            await self._db.execute("ROLLBACK")
            raise StoreError(f"cannot save the result of job {job_id}: {exc}") from exc

    async def tracks(self, job_id: int) -> list[TrackRow]:
        rows = await self._all("SELECT * FROM tracks WHERE job_id = ? ORDER BY idx", (job_id,))
        return [TrackRow(**dict(row)) for row in rows]

    async def set_track_message(self, job_id: int, idx: int, message_id: int) -> None:
        await self._write(
            "UPDATE tracks SET message_id = ? WHERE job_id = ? AND idx = ?",
            (message_id, job_id, idx),
        )

    # --- posts and likes ---

    async def claim_post(self, job_id: int, track_idx: int, user_id: int) -> Post:
        """The one post of a job: created on the first choice, returned as is after."""
        await self._write(
            """INSERT INTO posts (job_id, track_idx, user_id, status, created_at)
               VALUES (?, ?, ?, 'pending', ?) ON CONFLICT(job_id) DO NOTHING""",
            (job_id, track_idx, user_id, _now()),
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

    async def count_post_attempt(self, post_id: int) -> None:
        await self._write("UPDATE posts SET attempts = attempts + 1 WHERE id = ?", (post_id,))

    async def mark_posted(self, post_id: int, channel_message_id: int) -> None:
        await self._write(
            """UPDATE posts SET status = 'posted', channel_message_id = ?, posted_at = ?
               WHERE id = ?""",
            (channel_message_id, _now(), post_id),
        )

    async def pending_posts(self) -> list[Post]:
        rows = await self._all("SELECT * FROM posts WHERE status = 'pending' ORDER BY id")
        return [_post(row) for row in rows]

    async def set_reactions(self, channel_message_id: int, counts: dict[str, int]) -> Post | None:
        """Replace a post's reaction counts (Telegram sends totals); likes = their sum."""
        row = await self._one(
            "SELECT id FROM posts WHERE channel_message_id = ?", (channel_message_id,)
        )
        if row is None:
            return None
        post_id = row["id"]
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            await self._db.execute("DELETE FROM reactions WHERE post_id = ?", (post_id,))
            await self._db.executemany(
                "INSERT INTO reactions (post_id, emoji, count) VALUES (?, ?, ?)",
                [(post_id, emoji, n) for emoji, n in counts.items() if n > 0],
            )
            await self._db.execute(
                "UPDATE posts SET likes = ? WHERE id = ?", (sum(counts.values()), post_id)
            )
            await self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            await self._db.execute("ROLLBACK")
            raise StoreError(f"cannot record reactions: {exc}") from exc
        return await self.get_post(post_id)

    async def user_posts(self, user_id: int) -> list[PostView]:
        rows = await self._all(
            """SELECT p.id, p.channel_message_id, t.genre, p.likes, p.created_at
               FROM posts p JOIN tracks t ON t.job_id = p.job_id AND t.idx = p.track_idx
               WHERE p.user_id = ? AND p.status = 'posted' ORDER BY p.id DESC""",
            (user_id,),
        )
        return [PostView(**dict(row)) for row in rows]

    async def top_posts(self, since: datetime, limit: int = 10) -> list[PostView]:
        rows = await self._all(
            """SELECT p.id, p.channel_message_id, t.genre, p.likes, p.created_at
               FROM posts p JOIN tracks t ON t.job_id = p.job_id AND t.idx = p.track_idx
               WHERE p.status = 'posted' AND p.posted_at >= ? AND p.likes > 0
               ORDER BY p.likes DESC, p.id LIMIT ?""",
            (since.isoformat(timespec="seconds"), limit),
        )
        return [PostView(**dict(row)) for row in rows]

    async def delete_post(self, post_id: int, user_id: int) -> Post | None:
        """Remove one of ``user_id``'s posts; None if it is not theirs (or gone)."""
        post = await self.get_post(post_id)
        if post is None or post.user_id != user_id:
            return None
        await self._write("DELETE FROM posts WHERE id = ?", (post_id,))
        return post

    # --- privacy and retention ---

    async def forget_user(self, user_id: int) -> list[str]:
        """Delete a person and everything of theirs; returns the files to remove."""
        paths = await self._files_of("j.user_id = ?", (user_id,))
        await self._write("DELETE FROM posts WHERE user_id = ?", (user_id,))
        await self._write("DELETE FROM users WHERE id = ?", (user_id,))
        return paths

    async def expire_unchosen(self, older_than_days: int) -> list[str]:
        """Drop the tracks of finished jobs nobody posted; returns the files to remove."""
        cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="seconds")
        where = """j.status IN ('delivered', 'failed', 'cancelled') AND j.updated_at < ?
                   AND NOT EXISTS (SELECT 1 FROM posts p WHERE p.job_id = j.id)"""
        paths = await self._files_of(where, (cutoff,))
        await self._write(f"DELETE FROM jobs AS j WHERE {where}", (cutoff,))
        return paths

    async def _files_of(self, where: str, params: tuple[Any, ...]) -> list[str]:
        rows = await self._all(
            f"""SELECT t.mp3_path AS path FROM tracks t JOIN jobs j ON j.id = t.job_id WHERE {where}
                UNION SELECT t.png_path FROM tracks t JOIN jobs j ON j.id = t.job_id WHERE {where}
                UNION SELECT j.cover_path FROM jobs j WHERE {where} AND j.cover_path IS NOT NULL
                UNION SELECT j.photo_path FROM jobs j WHERE {where}""",
            params * 4,
        )
        return [row["path"] for row in rows]

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row["value"]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def photo_in_use(self, photo_path: str) -> bool:
        (count,) = await self._one("SELECT COUNT(*) FROM jobs WHERE photo_path = ?", (photo_path,))
        return int(count) > 0

    async def stats(self) -> dict[str, int]:
        rows = await self._all("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        counts = {row["status"]: int(row["n"]) for row in rows}
        (posts,) = await self._one("SELECT COUNT(*) FROM posts WHERE status = 'posted'")
        (users,) = await self._one("SELECT COUNT(*) FROM users")
        return {**counts, "posts": int(posts), "users": int(users)}


def _job(row: Any) -> Job:
    data = dict(row)
    data.pop("updated_at", None)
    return Job(**data)


def _post(row: Any) -> Post:
    data = dict(row)
    data.pop("posted_at", None)
    return Post(**data)


async def backup(source: Path, target: Path) -> None:
    """A consistent copy of a live store (SQLite's online backup API)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".partial")
    try:
        async with aiosqlite.connect(source) as src, aiosqlite.connect(tmp) as dst:
            await src.backup(dst)
        tmp.replace(target)
    except (OSError, sqlite3.Error) as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"backup failed: {exc}") from exc


async def restore(backup_file: Path, target: Path) -> None:
    """Put a backup in place of the store (the bot must be stopped)."""
    async with aiosqlite.connect(backup_file) as src:
        (ok,) = await (await src.execute("PRAGMA integrity_check")).fetchone()  # type: ignore[misc]
        if ok != "ok":
            raise StoreError(f"{backup_file} is not a healthy SQLite file")
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    await backup(backup_file, target)
