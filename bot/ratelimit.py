"""At most so many calls a minute per person: the Mini App's API and inline queries."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

WINDOW_S = 60.0
# people tracked at most: any Telegram user can make a key (an inline query), so memory
# is bounded whatever comes; past it the one idle longest is forgotten (and could call
# again at once: a flood that big hides one person's calls anyway)
MAX_KEYS = 100_000


class RateLimit:
    """At most ``per_minute`` calls in any 60 s, per person; refused calls do not count.

    The people are kept in order of their last call: those idle for a whole window come
    first, and each call drops them from there, so no call scans the others. Past
    ``max_keys`` the one idle longest goes."""

    def __init__(self, per_minute: int, max_keys: int = MAX_KEYS) -> None:
        self.per_minute = per_minute
        self.max_keys = max_keys
        self._seen: OrderedDict[int, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """How many people are tracked now."""
        return len(self._seen)

    def allow(self, key: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._prune(now)
        seen = self._seen.get(key)
        if seen is None:
            while len(self._seen) >= self.max_keys:
                self._seen.popitem(last=False)  # the one idle longest
            seen = self._seen[key] = deque(maxlen=self.per_minute)
        self._seen.move_to_end(key)  # refused or not: one still calling is the last dropped
        if len(seen) == self.per_minute and now - seen[0] < WINDOW_S:
            return False  # refused: not counted
        seen.append(now)
        return True

    def _prune(self, now: float) -> None:
        """Forget the people at the front whose last counted call is a window old: nothing
        of theirs counts any more. The first one still counted stops it: no call scans
        the rest."""
        while self._seen:
            key, seen = next(iter(self._seen.items()))
            if seen and now - seen[-1] < WINDOW_S:
                return
            del self._seen[key]
