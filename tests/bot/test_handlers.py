"""Commands and messages: each answered in the person's language, whatever they send."""

from __future__ import annotations

from bot.texts import CATALOGUE
from tests.bot.conftest import StartBot
from tests.bot.harness import texts_to
from tests.fakes.telegram_server import FakeTelegram


async def test_start_and_help_welcome_by_name_and_name_the_channel(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot()
    tg.send_text(tg.user(42, "Ann"), "/start")
    tg.send_text(tg.user(43, "Bob"), "/help")
    await bot.until(lambda: texts_to(tg, 42) and texts_to(tg, 43), "welcomes")
    assert texts_to(tg, 42)[0].startswith("Hi Ann! I turn photos into music.")
    assert "@immu_feed" in texts_to(tg, 42)[0]
    assert texts_to(tg, 43)[0].startswith("Hi Bob!")
