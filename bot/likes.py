"""Which reactions are likes: the operator's positive emoji (``IMMU_LIKE_REACTIONS``).

Telegram sends every reaction's total; all of them are stored, and a post's likes
are the sum over the configured emoji only, so a 👎 never lifts a post up /top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

VARIATION_SELECTOR = "\ufe0f"  # "❤️" and "❤" are the same reaction to a reader


def normalised(emoji: str) -> str:
    return emoji.replace(VARIATION_SELECTOR, "")


def count_likes(counts: Mapping[str, int], liked: Iterable[str]) -> int:
    """The likes among a post's reaction totals."""
    wanted = {normalised(e) for e in liked}
    return sum(n for emoji, n in counts.items() if normalised(emoji) in wanted)
