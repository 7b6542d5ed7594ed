"""Operator-readable logs: one line per event, key=value fields, secrets masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import quote

from bot.pseudonym import uid

QUIET_LOGGERS = ("httpx", "httpcore", "telegram.ext.ExtBot", "urllib3", "filelock")


# a Telegram bot token, "<bot id>:<35 characters>": masked even when it is not configured
# (another bot's, a script's), and with its ":" percent-encoded, as a page quoting a URL has it
_TOKEN = r"(?:(?<=bot)|(?<!\w))\d{5,}(?::|%3[aA])[\w-]{30,}"


class RedactSecrets(logging.Filter):
    """Replaces every configured secret (the bot token above all), also percent-encoded,
    and anything shaped like a bot token with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]
        forms = {form for s in self.secrets for form in (s, quote(s, safe=""))}
        longest_first = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join([_TOKEN, *map(re.escape, longest_first)]))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        text = self._pattern.sub("***", message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._pattern.sub("***", record.exc_text)
        if text != message or record.args:
            record.msg, record.args = text, None
        return True


# what Telegram says of a person, in the reprs and JSON that libraries log
_NAMES = re.compile(
    r"""(?P<key>['"](?:first_name|last_name|username|title|bio)['"]\s*[:=]\s*)(?P<q>['"])(?:\\.|(?!(?P=q)).)*(?P=q)"""
)
_IDS = re.compile(r"""(?P<key>['"](?:id|user_id|chat_id)['"]\s*[:=]\s*)(?P<id>-?\d{5,})""")


class HidePeople(logging.Filter):
    """People's names never reach the log, and their ids only as the pseudonyms our own
    lines use (``bot.pseudonym``): libraries (python-telegram-bot logs an update it cannot parse at
    CRITICAL) print whole updates."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        text = _NAMES.sub(lambda m: f"{m['key']}{m['q']}***{m['q']}", message)
        text = _IDS.sub(lambda m: f"{m['key']}{uid(int(m['id']))}", text)
        if text != message:
            record.msg, record.args = text, None
        return True


class OneLineForNetworkTrouble(logging.Filter):
    """A 502 page, a timeout, a reset or a rate limit is weather, not a bug: libraries log
    those with a traceback; the operator gets one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("telegram") or record.exc_info is None:
            return True
        error = record.exc_info[1]
        cause = error.__cause__ if error is not None else None
        network = _is_network_error(error) or _is_network_error(cause)
        if network or "invalid JSON" in str(record.msg):
            reason = f"{type(error).__name__}: {error}"[:200]
            record.msg, record.args = f"{record.getMessage()[:200]} reason={reason}", None
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _is_network_error(error: BaseException | None) -> bool:
    from telegram.error import NetworkError, RetryAfter

    # RetryAfter: Telegram's flood control, which the rate limiter logs once it gave up
    return isinstance(error, (NetworkError, RetryAfter, ConnectionError, TimeoutError))


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """One plain line per event on stderr, secrets redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    handler.addFilter(OneLineForNetworkTrouble())
    handler.addFilter(HidePeople())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
