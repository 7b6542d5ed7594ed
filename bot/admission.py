"""Limits on what people may ask of the bot: jobs in flight, photos a day, the queue.

``async with admission.slot(user_id, lang):`` holds a place while a photo is being
downloaded and its job recorded, so concurrent arrivals cannot overshoot a limit;
it raises ``Refused`` with the text to show when a limit is reached.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from bot.settings import Settings
from bot.telegram.texts import text
from storage import Store

DAY = timedelta(days=1)


class Refused(Exception):
    """A limit is reached; ``str(exc)`` is the text for the person."""


class Admission:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._lock = asyncio.Lock()  # limit checks and reservations, never I/O to Telegram
        self._reserved: defaultdict[int, int] = defaultdict(int)

    def invited(self, user_id: int) -> bool:
        """IMMU_ALLOWED_IDS, a soft launch: only those people and the operators may ask
        for music; empty, everyone may. Asked before anything is downloaded or stored."""
        allowed = self.settings.allowed_ids
        return not allowed or user_id in allowed or user_id in self.settings.admin_ids

    @asynccontextmanager
    async def slot(self, user_id: int, lang: str) -> AsyncIterator[Callable[[], None]]:
        """A place for one new job of ``user_id``, held until the job is recorded. Yields
        ``recorded``: call it once the job is in the store (it counts there from then on;
        counted twice, a burst would see a fuller queue than there is)."""
        async with self._lock:
            refusal = await self._refusal(user_id, lang)
            if refusal is not None:
                raise Refused(refusal)
            self._reserved[user_id] += 1
        held = True

        def recorded() -> None:
            nonlocal held
            if held:
                held = False
                self._reserved[user_id] -= 1
                if self._reserved[user_id] <= 0:
                    del self._reserved[user_id]

        try:
            yield recorded
        finally:
            recorded()

    async def _refusal(self, user_id: int, lang: str) -> str | None:
        s = self.settings
        if await self.store.is_banned(user_id):  # before any download: a polite no
            return text(lang, "banned")
        mine = self._reserved.get(user_id, 0)
        if await self.store.count_active(user_id) + mine >= s.max_jobs_per_user:
            return text(lang, "limit_in_flight", n=s.max_jobs_per_user)
        since = datetime.now(UTC) - DAY
        if await self.store.count_jobs_since(user_id, since) + mine >= s.max_photos_per_day:
            return text(lang, "limit_daily", n=s.max_photos_per_day)
        if await self.store.count_active() + sum(self._reserved.values()) >= s.max_queue:
            return text(lang, "busy")
        return None
