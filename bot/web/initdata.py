"""Who is asking: the Mini App's ``initData``, checked as Telegram documents it.

Telegram hands a Mini App its launch data as a query string (``initData``): ``user`` (a
JSON object), ``auth_date``, ``start_param``, ``query_id``, ... and ``hash``. The page
sends it with every API call (``Authorization: tma <initData>``). It is trusted only if

- ``hash`` is the HMAC-SHA-256 of the data-check string (every other field as
  ``key=value``, sorted by key, joined by ``\\n``), keyed with the secret key, where the
  secret key is the HMAC-SHA-256 of the bot token keyed with the string ``WebAppData``;
- the comparison takes constant time (``hmac.compare_digest``);
- ``auth_date`` is no older than the bound (``IMMU_WEBAPP_MAX_AGE_S``) and not from the
  future (a minute's clock skew allowed).

See https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app.
Only the ids in a checked ``user`` are ever used; nothing unsigned is read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

SKEW_S = 60  # a client's clock a little ahead of ours is not an attack
# Telegram's initData is a few hundred bytes; long names in other scripts, a chat and a
# photo_url can make it a few KB: more than this is not Telegram's (the server takes a
# header field past this, bot.web.server.MAX_FIELD_SIZE, so a longer one is refused here,
# with its reason in the log)
MAX_LENGTH = 8192
MISMATCH = "signature does not match"  # signed with another token, or forged
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class Unsigned(Exception):
    """The request carries no initData this bot signed, or too old a one. The message
    says which, for the log; the client gets a bare 401."""


@dataclass(frozen=True)
class SignedIn:
    """The person a valid initData names."""

    user_id: int
    first_name: str
    language_code: str
    start_param: str
    auth_date: int


def secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def verify(init_data: str, bot_token: str, max_age_s: float, now: float | None = None) -> SignedIn:
    """The person ``init_data`` names, once its signature and age hold; else ``Unsigned``."""
    if not init_data or len(init_data) > MAX_LENGTH:
        raise Unsigned("no initData" if not init_data else "initData too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise Unsigned("initData is not a query string") from exc
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise Unsigned("a field appears twice")  # which one would the check have seen?
    given = fields.pop("hash", "").lower()
    if not _HEX_DIGEST.fullmatch(given):  # compare_digest takes ASCII text only
        raise Unsigned("no hash" if not given else "hash is not a SHA-256 hex digest")
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    expected = hmac.new(secret_key(bot_token), check.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise Unsigned(MISMATCH)
    try:
        auth_date = int(fields["auth_date"])
        user = json.loads(fields["user"])
        user_id = int(user["id"])
    except (KeyError, ValueError, TypeError) as exc:  # signed, but not a person's launch
        raise Unsigned("no user or auth_date") from exc
    now = time.time() if now is None else now
    if auth_date > now + SKEW_S:
        raise Unsigned("auth_date is in the future")
    if now - auth_date > max_age_s:
        raise Unsigned(f"initData is {int(now - auth_date)} s old")
    return SignedIn(
        user_id=user_id,
        first_name=str(user.get("first_name", ""))[:64],
        language_code=str(user.get("language_code", ""))[:8],
        start_param=fields.get("start_param", "")[:64],
        auth_date=auth_date,
    )
