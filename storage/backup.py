"""Online backup of the live store, and putting a backup back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from storage.store import StoreError


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
    try:
        async with aiosqlite.connect(backup_file) as src:
            (ok,) = await (await src.execute("PRAGMA integrity_check")).fetchone()  # type: ignore[misc]
    except sqlite3.Error as exc:
        raise StoreError(f"{backup_file} is not a SQLite file: {exc}") from exc
    if ok != "ok":
        raise StoreError(f"{backup_file} is not a healthy SQLite file")
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    await backup(backup_file, target)
