"""The real bot (``bot.app.serve``) in the test's own event loop, against the fake Bot API.

Nothing here reaches into the bot: a test sees what a person sees (the fake server's
record), what the store holds (the SQLite file, read-only) and the files on disk.
Waiting is always for an event (``until``), never a sleep: the bot runs in the same
loop, so a blocking wait would freeze it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.app import serve
from bot.settings import Settings
from immu.logs import OneLineForNetworkTrouble
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import popups, results
from tests.support.paths import EXAMPLE_PHOTO

PHOTO = EXAMPLE_PHOTO.read_bytes()
CHANNEL = "@immu_feed"
STOP_S = 30.0
BOT_LOGGERS = {"bot", "immu", "pipeline", "storage", "telegram", "asyncio"}


def settings_for(tg: FakeTelegram, data_dir: Path, **overrides: Any) -> Settings:
    """Settings as an operator would write them, minus this machine's env and ``.env``."""
    values: dict[str, Any] = {
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_URL": tg.url,
        "channel": CHANNEL,
        "data_dir": data_dir,
        "device": "cpu",
        "poll_timeout_s": 1,
        "progress_edit_s": 0.2,
        "post_retry_s": 0.5,
        "log_level": "DEBUG",
        "health_port": 0,  # tests run side by side: one that probes /healthz picks a free port
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class _Tracebacks(logging.Handler):
    """The bot's log records that carry an exception: what an operator would see as a
    traceback. The fakes' own records (aiohttp, in their threads) are not the bot's."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        # what ``immu bot``'s log set-up makes of library records: network trouble is a
        # one-line warning there, so it is no traceback here either
        self.addFilter(OneLineForNetworkTrouble())

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.name.split(".")[0] in BOT_LOGGERS:
            self.records.append(record)


class RunningBot:
    """One ``serve`` task; ``stop`` ends it as SIGTERM would."""

    def __init__(self, tg: FakeTelegram, settings: Settings, composer: Any) -> None:
        self.tg = tg
        self.settings = settings
        self.composer = composer
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tracebacks = _Tracebacks()

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    async def start(self) -> RunningBot:
        logging.getLogger().addHandler(self._tracebacks)
        # listening: polling, or Telegram told where to POST (it retries until the bot answers)
        method = "setWebhook" if self.settings.webhook_url else "getUpdates"
        calls = len(self.tg.calls_to(method))
        self._task = asyncio.create_task(serve(self.settings, self._stop, self.composer))
        await self.until(lambda: len(self.tg.calls_to(method)) > calls, "listening")
        return self

    async def stop(self) -> None:
        """A clean shutdown; re-raises whatever ended ``serve`` early."""
        if self._task is None:
            return
        self._stop.set()
        try:
            async with asyncio.timeout(STOP_S):
                while not self._task.done():  # the updater waits for its long poll to end
                    self.tg.end_long_polls()
                    await asyncio.wait({self._task}, timeout=0.05)
            self._task.result()
        finally:
            logging.getLogger().removeHandler(self._tracebacks)

    @property
    def tracebacks(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self._tracebacks.records]

    async def until(self, predicate: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        """Wait for ``predicate`` to be truthy; fails at once if the bot stopped."""

        def check() -> Any:
            if self._task is not None and self._task.done():
                self._task.result()  # raises what ended it
                raise AssertionError(f"the bot stopped while waiting for {what}")
            return predicate()

        return await self.tg.until(check, timeout, what)

    # --- the store and the files, as an operator reads them ---

    def db(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.data_dir / 'immu.db'}?mode=ro", uri=True)
        ) as conn:
            return conn.execute(sql, params).fetchall()

    def job_statuses(self) -> list[str]:
        return [row[0] for row in self.db("SELECT status FROM jobs ORDER BY id")]

    # --- what people do, waiting for the bot's answer ---

    async def result_for(self, chat_id: int, count: int = 1, timeout: float = 60) -> dict[str, Any]:
        """The ``count``-th message with the choice keyboard in a chat, once it is there."""
        await self.until(
            lambda: len(results(self.tg, chat_id)) >= count,
            f"result {count} in chat {chat_id}",
            timeout,
        )
        return results(self.tg, chat_id)[count - 1]

    async def deliver(self, user: dict[str, Any], photo: bytes = PHOTO) -> dict[str, Any]:
        """Send a photo and wait for the three tracks and the choice keyboard."""
        before = len(results(self.tg, user["id"]))
        self.tg.send_photo(user, photo)
        return await self.result_for(user["id"], before + 1)

    async def settled(self) -> None:
        """Every job queued so far has been taken from the queue: a marker job sent now
        (the queue is first in, first out) comes back only after all of them."""
        marker = self.tg.user(MARKER_ID, "Marker")
        await self.deliver(marker)


StartBot = Callable[..., Awaitable[RunningBot]]
"""The ``start_bot`` fixture (tests/bot/conftest.py): ``await start_bot(composer, **settings)``."""

MARKER_ID = 999_999


def job_of(message: dict[str, Any]) -> int:
    """The job id in a message's first button (``pick:<job>:0`` or ``cancel:<job>``)."""
    data = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    return int(data.split(":")[1])


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in message["reply_markup"]["inline_keyboard"] for b in row]


__all__ = [
    "CHANNEL",
    "PHOTO",
    "FakeComposer",
    "RunningBot",
    "buttons",
    "job_of",
    "settings_for",
]


async def nth_popup(bot: RunningBot, n: int) -> str:
    """The ``n``-th answer to a button tap (1-based), once it is in."""
    await bot.until(lambda: len(popups(bot.tg)) >= n, f"popup {n}")
    return popups(bot.tg)[n - 1]
