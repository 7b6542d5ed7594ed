"""At most so many calls a minute per person: the Mini App's API and inline queries."""

from __future__ import annotations

import time
from collections import deque

WINDOW_S = 60.0
PRUNE_AT = 10_000  # people tracked before the idle ones are dropped


class RateLimit:
    """At most ``per_minute`` calls in any 60 s, per person; refused calls do not count."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[int, deque[float]] = {}

    def allow(self, key: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        seen = self._seen.get(key)
        if seen is None:
            if len(self._seen) >= PRUNE_AT:
                self._prune(now)
            seen = self._seen[key] = deque(maxlen=self.per_minute)
        if len(seen) == self.per_minute and now - seen[0] < WINDOW_S:
            return False
        seen.append(now)
        return True

    def _prune(self, now: float) -> None:
        for key in [k for k, seen in self._seen.items() if now - seen[-1] >= WINDOW_S]:
            del self._seen[key]
