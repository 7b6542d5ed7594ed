"""One status message per job, edited as the job moves, never faster than Telegram allows."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.telegram.texts import text
from pipeline import Progress, Stage

log = logging.getLogger(__name__)

_STAGE_KEYS = {
    Stage.CAPTION: "stage_caption",
    Stage.BRIEF: "stage_brief",
    Stage.AUDIO: "stage_audio",
    Stage.ENCODE: "stage_encode",
}


def describe(event: Progress, lang: str) -> str:
    if event.stage == Stage.MUSIC:
        if event.total:
            return text(lang, "stage_music", step=event.step, total=event.total)
        return text(lang, "stage_music_start")
    return text(lang, _STAGE_KEYS[event.stage])


class ProgressMessage:
    """Collects progress events; a background task edits the message at most once per interval."""

    def __init__(
        self, bot: Bot, chat_id: int, message_id: int | None, lang: str, interval_s: float
    ) -> None:
        self.bot, self.chat_id, self.message_id = bot, chat_id, message_id
        self.lang, self.interval_s = lang, interval_s
        self._latest: str | None = None
        self._shown: str | None = None
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop()) if message_id is not None else None

    def on_event(self, event: Progress) -> None:
        """Called on the event loop by the composer; cheap, never blocks."""
        self._latest = describe(event, self.lang)
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()
            await asyncio.sleep(self.interval_s)

    async def _flush(self) -> None:
        if self._latest is None or self._latest == self._shown or self.message_id is None:
            return
        shown = self._latest
        try:
            await self.bot.edit_message_text(shown, self.chat_id, self.message_id)
            self._shown = shown
        except BadRequest as exc:
            if "not found" in str(exc).lower():
                self.message_id = None  # the person deleted it; stop editing
            log.debug("progress edit skipped reason=%s", exc)
        except TelegramError as exc:
            log.debug("progress edit failed reason=%s", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
