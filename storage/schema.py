"""The schema, as numbered migrations applied in order by ``PRAGMA user_version``.

``sqlite3 data/immu.db .schema`` shows the result. Never edit a migration that has
shipped: add the next one.
"""

from __future__ import annotations

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
