"""Text a model wrote, made fit to show strangers: no links, no @mentions; blocked words found.

Models read what the photo shows, words written in it included (the language model sees
the photo itself with ``IMMU_BRIEF_MODE=vision``). Words in a photo can then steer what
the model writes, and what it writes goes into public captions: a way to advertise a
site or an account in the channel. So links and mentions never survive, whatever the
model meant.

Pure: strings in, strings out. The brief is cleaned where it is made (``pipeline.brief``)
and again where it goes public (``bot.public_text``), for briefs made before or elsewhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# A small list on purpose: words no music description needs, which a steered model might
# write into a public caption (explicit content, scams, hate). Operators add their own
# with IMMU_BLOCKED_WORDS. Words of Latin letters match whole words (any case); others
# (Korean) match anywhere, as Korean attaches particles to the word.
DEFAULT_BLOCKED_WORDS = (
    "porn", "porno", "pornhub", "nsfw", "xxx", "nude", "nudes", "naked", "sex", "sexy",
    "hentai", "onlyfans", "escort", "casino", "betting", "crypto", "bitcoin", "airdrop",
    "giveaway", "forex", "nazi", "hitler",
    "섹스", "야동", "포르노", "카지노", "도박",
)  # fmt: skip

_LINKS = re.compile(
    r"""
    [a-z][a-z0-9+.-]*://\S*                       # http://, https://, tg://, ftp:// ...
    | \b(?:tg|mailto|javascript):\S+              # schemes written without //
    | [\w.+-]+@[\w-]+(?:\.[\w-]+)+                 # e-mail addresses
    | (?<![\w@])(?:[\w-]+\.)+[^\W\d_]{2,}\b        # bare domains: t.me, example.com, evil.co
      (?::\d+)?(?:/\S*)?                           # ... with a port or a path
    | @\w+                                         # @mentions of accounts and bots
    """,
    re.IGNORECASE | re.VERBOSE,
)
_SPACE_BEFORE_MARK = re.compile(r"\s+([,.;:!?])")
_LATIN_WORD = re.compile(r"[a-z0-9' -]+")


def unlinked(text: str) -> str:
    """``text`` on one line without links, e-mail addresses or @mentions."""
    visible = "".join(c for c in str(text) if unicodedata.category(c) != "Cf")  # zero-width
    kept = _LINKS.sub(" ", visible)
    return _SPACE_BEFORE_MARK.sub(r"\1", " ".join(kept.split())).strip(" ,;:")


def blocked_in(text: str, words: Iterable[str]) -> list[str]:
    """The blocked ``words`` that ``text`` contains (see ``DEFAULT_BLOCKED_WORDS``)."""
    folded = _folded(text)
    found = []
    for word in words:
        target = _folded(word)
        if not target:
            continue
        if _LATIN_WORD.fullmatch(target):
            hit = re.search(rf"(?<![^\W_]){re.escape(target)}(?![^\W_])", folded) is not None
        else:
            hit = target in folded
        if hit:
            found.append(word)
    return found


def blocked_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """All of ``words`` in one pattern, for text read many times over: ``any_blocked(text,
    pattern)`` is true exactly where ``blocked_in(text, words)`` finds a word, after one
    search instead of one per word. None for no words."""
    whole: list[str] = []
    anywhere: list[str] = []
    for word in words:
        target = _folded(word)
        if target:
            (whole if _LATIN_WORD.fullmatch(target) else anywhere).append(re.escape(target))
    parts = [rf"(?<![^\W_])(?:{'|'.join(whole)})(?![^\W_])"] if whole else []
    return re.compile("|".join(parts + anywhere)) if parts or anywhere else None


def any_blocked(text: str, pattern: re.Pattern[str] | None) -> bool:
    """Whether ``text`` holds a word of ``pattern`` (``blocked_pattern``)."""
    return pattern is not None and pattern.search(_folded(text)) is not None


def _folded(text: str) -> str:
    """Compatibility forms and case folded away: ｐｏｒｎ and PORN read as porn."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())
