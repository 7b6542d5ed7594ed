"""Backups: the store and its files in one archive that restores on any host, any folder.

An archive is a plain tar: ``immu.db`` (SQLite's online backup of the live store, upgraded
to this code's schema, so its file paths are relative to the data folder), then every file
that snapshot refers to (photos, covers, tracks), then the data folder's other files the
caller names (the pseudonym key). The snapshot comes first and the files after it: a file
is never written twice (the bot writes each once, atomically), so the files the snapshot
names are complete, unless the bot deleted one meanwhile (a /forget), which is reported.

``backup`` and ``restore`` copy the store file alone (and the migrations' safety copies).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import aiosqlite

from storage.store import SQLITE_HEADER, Store, StoreError, refuse_newer

DB_NAME = "immu.db"
FOLDERS = ("photos", "jobs")  # what the bot writes, besides the store
PRIVATE = 0o600  # an archive holds people's photos and the pseudonym key


@dataclass
class Archived:
    """What ``write_archive`` put in an archive, and what it could not."""

    files: int = 0
    size: int = 0  # bytes of the archive
    missing: list[str] = field(default_factory=list)  # deleted after the snapshot
    outside: list[str] = field(default_factory=list)  # not under the data folder: left out


async def backup(source: Path, target: Path) -> None:
    """A consistent copy of a live store file (SQLite's online backup API)."""
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
    """Put a store file in place of the store (the bot must be stopped)."""
    _check_healthy(backup_file)
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    await backup(backup_file, target)


async def write_archive(data_dir: Path, archive: Path, keep: Sequence[str] = ()) -> Archived:
    """One archive of the data folder while the bot runs: the store, the files it refers
    to, and ``keep`` (names of other files in the data folder)."""
    data_dir = data_dir.resolve()
    live = data_dir / DB_NAME
    if not live.is_file():
        raise StoreError(f"no store at {live} (IMMU_DATA_DIR)")
    refuse_newer(live)  # named here, not as the snapshot it would otherwise be refused as
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    done = Archived()
    try:
        with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".immu-backup-") as tmp:
            snapshot = Path(tmp) / DB_NAME
            await backup(live, snapshot)
            # an older snapshot gets this code's migrations, against the live folder: its
            # absolute paths become relative, as they are for the bot that reads it later
            store = await Store.open(snapshot, data_dir=data_dir)
            try:
                paths = await store.file_paths()
            finally:
                await store.close()
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
            with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w") as tar:
                tar.add(snapshot, arcname=DB_NAME)
                for stored in paths:
                    name = _relative(data_dir, stored)
                    if name is None:
                        done.outside.append(stored)
                    elif _add(tar, data_dir / name, name):
                        done.files += 1
                    else:
                        done.missing.append(stored)
                for name in keep:
                    if (data_dir / name).is_file():
                        _add(tar, data_dir / name, name)
        partial.replace(archive)
    except (OSError, tarfile.TarError) as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"backup to {archive} failed: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    done.size = archive.stat().st_size
    return done


async def restore_archive(archive: Path, data_dir: Path, force: bool = False) -> int:
    """Put an archive in place as the data folder (the bot stopped); returns the files
    put back beside the store. A folder with anything in it is refused unless ``force``:
    then its store, photos, jobs and the archive's other files are replaced (nothing else
    there is touched). A store file alone (an older backup) replaces only the store."""
    if not archive.is_file():
        raise StoreError(f"{archive} is not a backup file")
    data_dir.mkdir(parents=True, exist_ok=True)
    present = sorted(p.name for p in data_dir.iterdir())
    if present and not force:
        raise StoreError(
            f"{data_dir} is not empty ({', '.join(present[:5])}): restore into an empty folder"
            " (IMMU_DATA_DIR), or add --force to replace its store and files"
        )
    with archive.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) == SQLITE_HEADER:
            refuse_newer(archive)
            await restore(archive, data_dir / DB_NAME)
            return 0
    if not tarfile.is_tarfile(archive):
        raise StoreError(f"{archive} is not a backup made by immu backup (a tar archive)")
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=".immu-restore-"))
    try:
        names = _extract(archive, staging)
        refuse_newer(staging / DB_NAME)  # a newer IMMU's backup: refused before any change
        _check_healthy(staging / DB_NAME)
        if force:
            tops = {PurePosixPath(name).parts[0] for name in names}
            for top in {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", *FOLDERS, *tops}:
                _remove(data_dir / top)
        for entry in staging.iterdir():
            entry.replace(data_dir / entry.name)
    except OSError as exc:
        raise StoreError(f"restore into {data_dir} failed: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sum(1 for name in names if PurePosixPath(name).parts[0] in FOLDERS)


def _relative(data_dir: Path, stored: str) -> str | None:
    """A stored path as the archive names it, or None if it lies outside the data folder."""
    # lexically: a folder the operator linked elsewhere (jobs/ on a bigger disk) is inside
    target = Path(os.path.normpath(data_dir / stored))
    if data_dir not in target.parents:
        return None
    return target.relative_to(data_dir).as_posix()


def _add(tar: tarfile.TarFile, path: Path, name: str) -> bool:
    """Add one file; False if it is gone (the bot removed it after the snapshot)."""
    try:
        tar.add(path, arcname=name, recursive=False)
    except FileNotFoundError:
        return False
    return True


def _extract(archive: Path, into: Path) -> list[str]:
    """Every member of an archive, refusing anything but plain files under relative
    names (a crafted archive must not write outside the folder); returns their names."""
    names = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = PurePosixPath(member.name)
                if member.isdir():
                    continue
                if not member.isfile() or name.is_absolute() or ".." in name.parts:
                    raise StoreError(f"{archive} holds {member.name!r}: not a file IMMU wrote")
                target = into.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, member.mode & 0o666)
                with source, os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out)
                names.append(name.as_posix())
    except (OSError, tarfile.TarError) as exc:
        raise StoreError(f"{archive} cannot be read as a backup: {exc}") from exc
    if DB_NAME not in names:
        raise StoreError(f"{archive} holds no {DB_NAME}: not a backup made by immu backup")
    return names


def _check_healthy(db_file: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(db_file)) as db:
            (ok,) = db.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"{db_file} is not a SQLite file: {exc}") from exc
    if ok != "ok":
        raise StoreError(f"{db_file} is not a healthy SQLite file")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
