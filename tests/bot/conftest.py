from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import BotProcess
from tests.support.inprocess import RunningBot, StartBot, settings_for


@pytest.fixture(autouse=True)
def _no_machine_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No IMMU_/TELEGRAM_/OPENAI_ variable of this machine reaches a test's bot."""
    for key in list(os.environ):
        if key.startswith(("IMMU_", "TELEGRAM_", "OPENAI_")):
            monkeypatch.delenv(key)


@pytest.fixture()
async def start_bot(tg: FakeTelegram, tmp_path: Path) -> AsyncIterator[StartBot]:
    """``await start_bot(composer, **settings)``: the real bot in this test's event loop,
    with a ``FakeComposer`` unless told otherwise; stopped cleanly after the test, which
    fails if anything logged a traceback meanwhile."""
    from tests.fakes.composer import FakeComposer

    bots: list[RunningBot] = []

    async def start(composer: Any = None, **settings: Any) -> RunningBot:
        data_dir = settings.pop("data_dir", tmp_path / "data")
        bot = RunningBot(tg, settings_for(tg, data_dir, **settings), composer or FakeComposer())
        bots.append(bot)
        return await bot.start()

    yield start
    for bot in bots:
        await bot.stop()
    for bot in bots:
        assert not bot.tracebacks, bot.tracebacks


@pytest.fixture()
def make_bot(tg: FakeTelegram, tiny_models: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """``make_bot(**env)``: the real ``immu bot`` command in a subprocess."""
    bots: list[BotProcess] = []

    def make(**settings: str) -> BotProcess:
        bot = BotProcess(tg, tiny_models, tmp_path / "data", **settings)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.stop()
