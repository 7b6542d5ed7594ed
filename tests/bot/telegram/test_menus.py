"""The command menus: people's in their language, operators' only where operators work;
and HTML as the one default parse mode, with plain text sent as plain."""

from __future__ import annotations

from bot.telegram.texts import CATALOGUE
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.inprocess import StartBot

ADMIN = 7


def _menu(tg: FakeTelegram, **scope: object) -> dict[str, str]:
    for call in tg.calls_to("setMyCommands"):
        asked = {
            "scope": call.params.get("scope"),
            "language_code": call.params.get("language_code"),
        }
        if all(asked.get(k) == v for k, v in scope.items()):
            return {c["command"]: c["description"] for c in call.params["commands"]}
    raise AssertionError(f"no menu for {scope}: {tg.calls_to('setMyCommands')}")


async def test_people_get_a_command_menu_in_their_language(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    await start_bot(admin_ids=[ADMIN])
    english = _menu(tg, scope={"type": "default"}, language_code=None)
    korean = _menu(tg, scope={"type": "default"}, language_code="ko")
    assert english["profile"] == CATALOGUE["en"]["command_profile"]
    assert korean["profile"] == CATALOGUE["ko"]["command_profile"]
    assert english["id"] == CATALOGUE["en"]["command_id"]  # so an operator can be told it
    assert "ban" not in english and "ban" not in korean  # not for everyone
    operators = _menu(tg, scope={"type": "chat", "chat_id": ADMIN})
    assert {"ban", "unban", "stats", "profile"} <= set(operators)


async def test_a_genre_with_an_ampersand_still_delivers(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    """HTML is the default parse mode: plain text from a model ("R&B") must not be read
    as markup, or Telegram refuses the message."""
    bot = await start_bot(FakeComposer(genres=("R&B", "drum & bass", "<lo-fi>")))
    ann = tg.user(42, "Ann")
    result = await bot.deliver(ann)
    captions = [c.params["caption"] for c in tg.calls_to("sendAudio", chat_id=42)]
    assert captions[0] == CATALOGUE["en"]["track_caption"].format(n=1, genre="R&B")
    assert "R&amp;B" in result["text"]  # the result message is HTML: escaped there
