"""Where the bot keeps photos and tracks on disk (the store keeps the paths)."""

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
        return self._write(self.root / "photos" / f"{secrets.token_hex(8)}.jpg", data)

    def save_job_file(self, job_id: int, name: str, data: bytes) -> str:
        folder = self.root / "jobs" / str(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        return self._write(folder / name, data)

    def read(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def remove(self, paths: list[str]) -> None:
        for path in paths:
            target = Path(path)
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

    @staticmethod
    def _write(path: Path, data: bytes) -> str:
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return str(path)
