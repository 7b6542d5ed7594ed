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

# 3: ids are never reused (AUTOINCREMENT): after a delete, an old remix link or job folder
# must not reach someone else's post. Posts may end as failed (Telegram refused them for
# good) or unknown (Telegram did not confirm in time); deliveries count their tries.
# Moderation holds posts back: review (an operator decides first), declined (an operator
# said no), hidden (taken down after reports, an operator decides).
MIGRATIONS.append(
    """
    CREATE TABLE jobs_v3 (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id           INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        chat_id           INTEGER NOT NULL,
        photo_path        TEXT    NOT NULL,
        seed              INTEGER NOT NULL,
        status            TEXT    NOT NULL CHECK (status IN
                            ('queued', 'running', 'done', 'delivered', 'failed', 'cancelled')),
        status_message_id INTEGER,
        result_message_id INTEGER,
        attempts          INTEGER NOT NULL DEFAULT 0,
        error             TEXT,
        captions          TEXT,
        brief             TEXT,
        cover_path        TEXT,
        created_at        TEXT    NOT NULL,
        updated_at        TEXT    NOT NULL,
        remix_post_id     INTEGER,
        delivery_attempts INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO jobs_v3 (id, user_id, chat_id, photo_path, seed, status, status_message_id,
        result_message_id, attempts, error, captions, brief, cover_path, created_at, updated_at,
        remix_post_id)
    SELECT id, user_id, chat_id, photo_path, seed, status, status_message_id, result_message_id,
        attempts, error, captions, brief, cover_path, created_at, updated_at, remix_post_id
    FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v3 RENAME TO jobs;
    CREATE INDEX jobs_by_status ON jobs(status, id);
    CREATE INDEX jobs_by_user ON jobs(user_id, created_at);
    CREATE TABLE posts_v3 (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id              INTEGER NOT NULL UNIQUE REFERENCES jobs(id) ON DELETE CASCADE,
        track_idx           INTEGER NOT NULL,
        user_id             INTEGER NOT NULL,
        status              TEXT    NOT NULL CHECK (status IN
                              ('pending', 'posted', 'failed', 'unknown',
                               'review', 'declined', 'hidden')),
        channel_message_id  INTEGER UNIQUE,
        attempts            INTEGER NOT NULL DEFAULT 0,
        likes               INTEGER NOT NULL DEFAULT 0,
        created_at          TEXT    NOT NULL,
        posted_at           TEXT
    );
    INSERT INTO posts_v3 SELECT * FROM posts;
    DROP TABLE posts;
    ALTER TABLE posts_v3 RENAME TO posts;
    CREATE INDEX posts_by_user ON posts(user_id);
    """
)

# 4: moderation. Reports name the reporter by a hash (readers need not be users of the
# bot, and a report must not outlive their privacy); bans by Telegram id (the bot must
# recognise them); reviews are the operators' messages that carry a decision's buttons.
MIGRATIONS.append(
    """
    CREATE TABLE reports (
        post_id     INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        reporter    TEXT    NOT NULL,          -- a hash of the reader's Telegram id
        created_at  TEXT    NOT NULL,
        PRIMARY KEY (post_id, reporter)
    );
    CREATE TABLE bans (
        user_id     INTEGER PRIMARY KEY,       -- Telegram user id; not a users row
        banned_by   INTEGER NOT NULL,
        created_at  TEXT    NOT NULL
    );
    CREATE TABLE reviews (
        post_id     INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        chat_id     INTEGER NOT NULL,          -- the operators' chat
        message_id  INTEGER NOT NULL,
        reason      TEXT    NOT NULL CHECK (reason IN ('choice', 'reports')),
        PRIMARY KEY (chat_id, message_id)
    );
    CREATE INDEX reviews_by_post ON reviews(post_id);
    """
)

# 5: when reports last took a post down. A hidden post nobody decided on comes back after
# IMMU_REPORT_REVIEW_H; once back (by an operator or by time), reports do not take it down
# again. Posts hidden or restored after reports before this version count from now.
MIGRATIONS.append(
    """
    ALTER TABLE posts ADD COLUMN hidden_at TEXT;
    UPDATE posts SET hidden_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')
     WHERE id IN (SELECT post_id FROM reviews WHERE reason = 'reports');
    """
)

# 6: file paths relative to the data folder, so that a backup restores on another host or
# under another IMMU_DATA_DIR. Paths under the store's own folder lose that prefix; others
# (a folder moved by hand before) stay as they were and are read as before. The store
# supplies immu_data_dir(): its folder, resolved, with a trailing separator.
MIGRATIONS.append(
    """
    UPDATE jobs SET photo_path = substr(photo_path, length(immu_data_dir()) + 1)
     WHERE substr(photo_path, 1, length(immu_data_dir())) = immu_data_dir();
    UPDATE jobs SET cover_path = substr(cover_path, length(immu_data_dir()) + 1)
     WHERE substr(cover_path, 1, length(immu_data_dir())) = immu_data_dir();
    UPDATE tracks SET mp3_path = substr(mp3_path, length(immu_data_dir()) + 1)
     WHERE substr(mp3_path, 1, length(immu_data_dir())) = immu_data_dir();
    UPDATE tracks SET png_path = substr(png_path, length(immu_data_dir()) + 1)
     WHERE substr(png_path, 1, length(immu_data_dir())) = immu_data_dir();
    """
)

# 7: the channel post's file as Telegram keeps it (its file_id, usable by this bot only),
# so a track can be shared into any chat inline without uploading it again. Posts from
# before have none and are not offered there.
MIGRATIONS.append(
    """
    ALTER TABLE posts ADD COLUMN file_id TEXT;
    ALTER TABLE posts ADD COLUMN file_kind TEXT CHECK (file_kind IN ('audio', 'video'));
    """
)

# 8: whether a post went to the channel with its owner's name and with the words about
# the photo: turning either on later must not attach them to posts made without them.
# Posts from before are taken as neither (the safe side: no name, no photo words). The
# index finds a post's remixes, as the pages list them.
MIGRATIONS.append(
    """
    ALTER TABLE posts ADD COLUMN named INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE posts ADD COLUMN described INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_by_remix ON jobs(remix_post_id);
    """
)
