"""Where the bot keeps photos and tracks on disk (the store keeps the paths).

Paths given out and taken in are relative to the data folder (``photos/…``,
``jobs/<id>/…``), so the store and its files move together: a backup restores on another
host or under another ``IMMU_DATA_DIR``. An absolute path (a row older than that, whose
folder has moved since) is read as it is.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class FileStore:
    """Files under the data directory, written atomically (temp file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        for folder in ("photos", "jobs"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def save_photo(self, data: bytes) -> str:
        return self._write(Path("photos") / f"{secrets.token_hex(8)}.jpg", data)

    def save_job_file(self, job_id: int, name: str, data: bytes) -> str:
        (self.root / "jobs" / str(job_id)).mkdir(parents=True, exist_ok=True)
        return self._write(Path("jobs") / str(job_id) / name, data)

    def path(self, stored: str) -> Path:
        """The file on disk for a path as the store keeps it."""
        return self.root / stored  # an absolute one stays as it is

    def read(self, stored: str) -> bytes:
        return self.path(stored).read_bytes()

    def remove(self, paths: list[str]) -> None:
        for stored in paths:
            target = self.path(stored)
            if self.root in target.resolve().parents:  # never outside the data dir
                target.unlink(missing_ok=True)
                parent = target.parent
                if (
                    parent != self.root
                    and parent.parent == self.root / "jobs"
                    and not any(parent.iterdir())
                ):
                    parent.rmdir()

    def remove_job(self, job_id: int) -> None:
        """Every file of one job (its folder), e.g. of a job forgotten while composing."""
        folder = self.root / "jobs" / str(job_id)
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
            folder.rmdir()

    def _write(self, relative: Path, data: bytes) -> str:
        path = self.root / relative
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return relative.as_posix()
