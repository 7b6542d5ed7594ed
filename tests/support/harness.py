"""Run the real ``immu bot`` (a subprocess, as an operator runs it) against the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.telegram.texts import CATALOGUE
from tests.fakes.telegram_server import CHANNEL_ID, FakeTelegram
from tests.support.paths import ROOT


class BotProcess:
    """``immu bot`` with TELEGRAM_API_URL pointing at the fake, tiny models, a temp data dir."""

    def __init__(
        self, tg: FakeTelegram, models: dict[str, str], data_dir: Path, **settings: str
    ) -> None:
        self.tg = tg
        self.log_path = data_dir.parent / f"{data_dir.name}-bot.log"
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("IMMU_", "TELEGRAM_", "OPENAI_"))
            },
            **models,
            "TELEGRAM_BOT_TOKEN": tg.token,
            "TELEGRAM_API_URL": tg.url,
            "IMMU_CHANNEL": "@immu_feed",
            "IMMU_DATA_DIR": str(data_dir),
            "IMMU_DEVICE": "cpu",
            "IMMU_STEPS": "2",
            "IMMU_GRIFFIN_LIM_ITERS": "2",
            "IMMU_PROGRESS_EDIT_S": "0.3",
            "IMMU_POLL_TIMEOUT_S": "1",
            "IMMU_POST_RETRY_S": "1",
            "IMMU_LOG_LEVEL": "DEBUG",
            "IMMU_HEALTH_PORT": "0",  # bots run side by side: none takes the default port
            "HF_HUB_OFFLINE": "1",
            **settings,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def start(self, wait_ready: bool = True) -> BotProcess:
        self._starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "immu.cli", "bot"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        if wait_ready:
            self.tg.wait_for(
                lambda: self.ready_count() >= self._starts or self._died(), 120, "bot ready"
            )
            assert not self._died(), self.log()
        return self

    def ready_count(self) -> int:
        return self.log().count("bot ready")

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def kill(self) -> None:
        """kill -9: no clean shutdown, like a crash or an OOM kill."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def keyboard_message(tg: FakeTelegram, chat_id: int, action: str = "pick") -> dict[str, Any] | None:
    """The latest message in a chat whose keyboard has ``action`` buttons."""
    for message in reversed(tg.chat_messages(chat_id)):
        if action + ":" in str(message.get("reply_markup", "")):
            return message
    return None


def texts_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    """Everything the person saw as text: sent messages, edits and popups."""
    out = [str(c.params.get("text")) for c in tg.calls if c.method in ("sendMessage", "editMessageText")
           and str(c.params.get("chat_id")) == str(chat_id)]  # fmt: skip
    return out


RECEIVED = {CATALOGUE[lang]["received"] for lang in CATALOGUE}  # the instant "got it"


def replies(tg: FakeTelegram, chat_id: int) -> list[str]:
    """What the bot told a chat, sent or edited in, in order, past the instant "got it"."""
    return [t for t in texts_to(tg, chat_id) if t not in RECEIVED]


def answers(tg: FakeTelegram, chat_id: int) -> list[str]:
    """The messages the bot sent to a chat as text, in order (no edits, no popups)."""
    return [str(c.params.get("text")) for c in tg.calls_to("sendMessage", chat_id=chat_id)]


def shown(tg: FakeTelegram, chat_id: int) -> list[str]:
    """The bot's text messages in a chat as the person sees them now: after every edit."""
    return [
        str(m["text"])
        for m in tg.chat_messages(chat_id)
        if m.get("from", {}).get("is_bot") and "text" in m
    ]


def media_posts(tg: FakeTelegram, chat_id: int = CHANNEL_ID) -> list[dict[str, Any]]:
    """The tracks posted in a chat (the channel unless told): its video and audio messages."""
    return [m for m in tg.chat_messages(chat_id) if "video" in m or "audio" in m]


def popups(tg: FakeTelegram) -> list[str]:
    return [str(c.params.get("text")) for c in tg.calls_to("answerCallbackQuery")]


def results(tg: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    """The messages in a chat that carry the choice keyboard (one per delivered job)."""
    return [m for m in tg.chat_messages(chat_id) if "pick:" in str(m.get("reply_markup", ""))]


def caption_words(caption: str) -> str:
    """A channel post's caption without its signature (the post's number, linked to its
    remix), which every post ends with."""
    words, _, signature = caption.rpartition("\n\n♪ ")
    assert signature.endswith("</a>"), caption
    return words


async def run_immu(*args: str, data_dir: Path) -> tuple[int, str]:
    """The ``immu`` command in a subprocess, while the test's loop keeps the bot serving."""
    env = {**os.environ, "IMMU_DATA_DIR": str(data_dir)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "immu.cli", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, output.decode(errors="replace")
