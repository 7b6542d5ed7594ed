"""Stores as an older IMMU left them, written with plain sqlite3."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from storage.schema import MIGRATIONS


def version_5_store(data: Path, photos: list[str]) -> None:
    """``data/immu.db`` as IMMU wrote it before relative paths (schema 5): covers and
    tracks under ``data`` by absolute path, one delivered job per photo (``photos`` as
    given), one track on job 1."""
    data.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(data / "immu.db")) as db, db:
        db.executescript("".join(MIGRATIONS[:5]) + "PRAGMA user_version=5;")
        db.execute("INSERT INTO users (id, created_at) VALUES (1, 'x')")
        for job_id, photo in enumerate(photos, start=1):
            db.execute(
                "INSERT INTO jobs (id, user_id, chat_id, photo_path, seed, status, cover_path,"
                " created_at, updated_at) VALUES (?, 1, 1, ?, 0, 'delivered', ?, 'x', 'x')",
                (job_id, photo, f"{data.resolve()}/jobs/{job_id}/cover.jpg"),
            )
        if photos:
            folder = f"{data.resolve()}/jobs/1"
            db.execute(
                "INSERT INTO tracks VALUES (1, 0, 'jazz', 'jazz', 0, 5.0, ?, ?, NULL)",
                (f"{folder}/track-1.mp3", f"{folder}/track-1.png"),
            )
