"""Archives of the data folder: what goes in, and what a restore refuses."""

from __future__ import annotations

import contextlib
import io
import sqlite3
import tarfile
from pathlib import Path

import pytest

from storage import Store, StoreError, StoreTooNew, restore_archive, write_archive
from storage.schema import MIGRATIONS
from tests.support.stores import version_5_store


def _files(data: Path, names: list[str]) -> None:
    for name in names:
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(name.encode())


async def test_a_store_not_yet_upgraded_is_archived_with_relative_paths(tmp_path: Path) -> None:
    """A backup right after installing a new IMMU, before the bot started: the archive is
    of this IMMU's schema, its files named under the data folder, the live store untouched."""
    old = tmp_path / "old"
    version_5_store(old, [f"{old.resolve()}/photos/a.jpg"])
    _files(old, ["photos/a.jpg", "jobs/1/cover.jpg", "jobs/1/track-1.mp3", "jobs/1/track-1.png"])
    _files(old, ["pseudonym.key", "photos/stray.jpg"])  # the key is kept; a stray file not
    done = await write_archive(old, tmp_path / "b.tar", keep=["pseudonym.key"])
    assert (done.files, done.missing, done.outside) == (4, [], [])
    assert (tmp_path / "b.tar").stat().st_mode & 0o077 == 0  # people's photos, the key
    assert not (old / "immu.db.before-v6").exists()  # the live store was only read

    new = tmp_path / "new"
    assert await restore_archive(tmp_path / "b.tar", new) == 4
    assert sorted(p.relative_to(new).as_posix() for p in new.rglob("*") if p.is_file()) == [
        "immu.db", "jobs/1/cover.jpg", "jobs/1/track-1.mp3", "jobs/1/track-1.png",
        "photos/a.jpg", "pseudonym.key",
    ]  # fmt: skip
    store = await Store.open(new / "immu.db")
    job = await store.get_job(1)
    assert job is not None and (new / job.photo_path).read_bytes() == b"photos/a.jpg"
    await store.close()


async def test_a_restore_never_overwrites_a_folder_in_use_unless_forced(tmp_path: Path) -> None:
    source = tmp_path / "source"
    version_5_store(source, ["photos/a.jpg"])
    _files(source, ["photos/a.jpg"])
    await write_archive(source, tmp_path / "b.tar")
    target = tmp_path / "target"
    version_5_store(target, ["photos/mine.jpg"])
    _files(target, ["photos/mine.jpg", "notes.txt"])
    before = (target / "immu.db").read_bytes()

    with pytest.raises(StoreError, match=r"not empty .* --force"):
        await restore_archive(tmp_path / "b.tar", target)
    assert (target / "immu.db").read_bytes() == before
    assert (target / "photos" / "mine.jpg").exists()

    assert await restore_archive(tmp_path / "b.tar", target, force=True) == 1
    assert sorted(p.name for p in (target / "photos").iterdir()) == ["a.jpg"]
    assert (target / "notes.txt").exists()  # not IMMU's: left alone
    assert [p.name for p in target.iterdir() if p.name.startswith(".")] == []  # no staging left


async def test_an_archive_that_writes_outside_the_folder_is_refused(tmp_path: Path) -> None:
    crafted = tmp_path / "crafted.tar"
    with tarfile.open(crafted, "w") as tar:
        for name in ("immu.db", "../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(StoreError, match="not a file IMMU wrote"):
        await restore_archive(crafted, tmp_path / "data")
    assert not (tmp_path / "escaped.txt").exists()
    assert list((tmp_path / "data").iterdir()) == []


async def test_a_backup_of_a_newer_immu_is_refused_before_any_change(tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    newer.mkdir()
    with contextlib.closing(sqlite3.connect(newer / "immu.db")) as db:
        db.executescript(f"CREATE TABLE later (x); PRAGMA user_version={len(MIGRATIONS) + 1};")
    with tarfile.open(tmp_path / "b.tar", "w") as tar:
        tar.add(newer / "immu.db", arcname="immu.db")
    target = tmp_path / "target"
    version_5_store(target, [])
    before = (target / "immu.db").read_bytes()
    with pytest.raises(StoreTooNew):
        await restore_archive(tmp_path / "b.tar", target, force=True)
    assert (target / "immu.db").read_bytes() == before


async def test_a_store_of_a_newer_immu_is_not_backed_up_by_this_one(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "immu.db")) as db:
        db.executescript(f"CREATE TABLE later (x); PRAGMA user_version={len(MIGRATIONS) + 1};")
    with pytest.raises(StoreTooNew, match=f"the store {tmp_path / 'immu.db'} is version"):
        await write_archive(tmp_path, tmp_path / "b.tar")
    assert not (tmp_path / "b.tar").exists()
