"""Pseudonyms: the short ids that stand for a person in the logs and in the reports table.

A pseudonym is a keyed hash (HMAC-SHA-256) of the Telegram id. An unkeyed hash would not
do: Telegram ids are few enough that hashing every candidate finds anyone's in hours. The
key is random, made once per install and kept in ``<data_dir>/pseudonym.key`` (mode 0600,
never logged), so the same install gives a person the same pseudonym after a restart (a
reader's reports still count once) and two installs give different ones.

Pseudonymous, not anonymous: whoever holds the data folder holds the key, and can match a
known id to its pseudonym. Logs and reports alone do not reveal the id.

``uid`` is what the bot's modules call; ``serve`` installs the data folder's key at
start-up. Until then (a library user, a test without a bot) a key of this process alone
is used: stable for the process, useless to anyone after it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

KEY_FILE = "pseudonym.key"
KEY_BYTES = 32
HEX_CHARS = 16  # 64 bits: no two readers of one post share a pseudonym in practice
TOKEN_CHARS = 32  # 128 bits: a token in a URL must not be guessed
PRIVATE = 0o600


class Pseudonyms:
    """Telegram id -> pseudonym, under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, user_id: int) -> str:
        digest = hmac.new(self._key, str(user_id).encode(), hashlib.sha256)
        return digest.hexdigest()[:HEX_CHARS]

    def token(self, purpose: str, value: int) -> str:
        """A keyed hash of ``value`` for one ``purpose`` (``"media"``: a track's files on
        the pages): unguessable without the key, and never a pseudonym or another
        purpose's token (the purpose is part of what is hashed)."""
        message = f"{purpose}\0{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:TOKEN_CHARS]

    def __repr__(self) -> str:  # never the key, not even in a traceback's locals
        return "Pseudonyms(<key>)"

    @classmethod
    def of_install(cls, data_dir: Path) -> Pseudonyms:
        """The install's pseudonyms: its key file, made now if missing. Raises ``OSError``
        or ``ValueError`` when the file cannot be made or is not a key."""
        path = data_dir / KEY_FILE
        if not path.exists():
            _create(path)
        if path.stat().st_mode & 0o077:  # a copy or a restore widened it: only ours to read
            path.chmod(PRIVATE)
            log.warning("pseudonym key was readable by others, now mode=600 file=%s", path)
        key = path.read_bytes()
        if len(key) < KEY_BYTES:  # never replaced silently: every pseudonym would change
            raise ValueError(f"{path} is not a pseudonym key (under {KEY_BYTES} bytes)")
        return cls(key)


def _create(path: Path) -> None:
    """A new random key, written in full before it appears under its name: a second bot
    process starting at the same moment reads one key, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(KEY_BYTES))
        try:
            os.link(tmp, path)  # fails if another process made the key meanwhile: keep theirs
        except FileExistsError:
            return
        except OSError:  # a file system without hard links: the race is only at first start
            os.replace(tmp, path)
        log.info("pseudonym key created file=%s", path)
    finally:
        tmp.unlink(missing_ok=True)


_installed = Pseudonyms(secrets.token_bytes(KEY_BYTES))


def install(pseudonyms: Pseudonyms) -> None:
    """From now on ``uid`` answers with these pseudonyms (``serve`` at start-up)."""
    global _installed
    _installed = pseudonyms


def uid(user_id: int) -> str:
    """The person's pseudonym under the installed key: enough to follow them through the
    logs and to count a reader's reports once, never their id."""
    return _installed(user_id)
