from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.harness import BotProcess
from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture()
def tg() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture()
def make_bot(tg: FakeTelegram, tiny_models: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    bots: list[BotProcess] = []

    def make(**settings: str) -> BotProcess:
        bot = BotProcess(tg, tiny_models, tmp_path / "data", **settings)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.stop()
