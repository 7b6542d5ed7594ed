"""Which reactions are likes: the operator's positive emoji (``IMMU_LIKE_REACTIONS``).

Telegram sends every reaction's total; all of them are stored, and a post's likes
are the sum over the configured emoji only, so a 👎 never lifts a post up /top.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from bot.feed import Feed
from storage import Store

log = logging.getLogger(__name__)

VARIATION_SELECTOR = "\ufe0f"  # "❤️" and "❤" are the same reaction to a reader


def normalised(emoji: str) -> str:
    return emoji.replace(VARIATION_SELECTOR, "")


def count_likes(counts: Mapping[str, int], liked: Iterable[str]) -> int:
    """The likes among a post's reaction totals."""
    wanted = {normalised(e) for e in liked}
    return sum(n for emoji, n in counts.items() if normalised(emoji) in wanted)


class Likes:
    """Reaction totals on channel posts, as Telegram sends them, become posts' likes."""

    def __init__(self, store: Store, feed: Feed, liked: Iterable[str]) -> None:
        self.store = store
        self.feed = feed
        self.liked = tuple(liked)

    async def count(self, chat_id: int, message_id: int, counts: dict[str, int]) -> None:
        """A post's reaction totals: all stored, the positive ones are its likes."""
        if not self.feed.is_channel(chat_id):
            return
        likes = count_likes(counts, self.liked)
        post = await self.store.set_reactions(message_id, counts, likes)
        if post is not None:
            log.info("likes post=%d likes=%d reactions=%d", post.id, likes, sum(counts.values()))
