"""The command menus Telegram shows beside the text box, in each person's language, and
the menu button there that opens the Mini App.

People see theirs in English, or in Korean when their app is in Korean; the operators'
commands appear only in the chats where operators work (each admin's private chat and
the operators' room), never to everyone. /app and the menu button exist only with
``IMMU_WEBAPP_URL``.
"""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    MenuButtonDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from telegram.error import TelegramError

from bot.settings import Settings
from bot.telegram.chat import chat_ref
from bot.telegram.texts import LANGUAGES, plain

log = logging.getLogger(__name__)

PEOPLE = (
    "start", "profile", "top", "delete", "anonymous", "describe", "lang", "forget", "id", "help",
)  # fmt: skip
OPERATORS = ("stats", "ban", "unban")
APP = ("app",)  # with the Mini App's pages only


def commands(lang: str, names: tuple[str, ...]) -> list[BotCommand]:
    return [BotCommand(name, plain(lang, f"command_{name}")) for name in names]


async def set_menus(bot: Bot, settings: Settings) -> None:
    """At start-up: the command menus and the menu button."""
    await set_command_menus(bot, settings)
    await set_menu_button(bot, settings)


async def set_command_menus(bot: Bot, settings: Settings) -> None:
    """Set every menu once at start-up; a refusal is logged, the bot runs without it."""
    people = PEOPLE + APP if settings.webapp_url else PEOPLE
    try:
        for lang in LANGUAGES:
            code = None if lang == "en" else lang  # English is everyone else's default
            await bot.set_my_commands(
                commands(lang, people), scope=BotCommandScopeDefault(), language_code=code
            )
        rooms: list[int | str] = list(settings.admin_ids)
        if settings.review_chat:
            rooms.append(chat_ref(settings.review_chat))
        for room in rooms:
            # operators' chats: their commands after the people's, in English (one room)
            everything = commands("en", people + OPERATORS)
            await bot.set_my_commands(everything, scope=BotCommandScopeChat(room))
    except TelegramError as exc:
        log.warning("command menu not set reason=%s", exc)


async def set_menu_button(bot: Bot, settings: Settings) -> None:
    """Private chats' menu button opens the Mini App (``IMMU_WEBAPP_URL``). Without it,
    nothing is set, except that a button an earlier start set goes back to Telegram's
    default (the commands), so nobody opens pages that are gone."""
    try:
        if settings.webapp_url:
            button = MenuButtonWebApp(plain("en", "menu_app"), WebAppInfo(settings.webapp_url))
            await bot.set_chat_menu_button(menu_button=button)
        elif isinstance(await bot.get_chat_menu_button(), MenuButtonWebApp):
            await bot.set_chat_menu_button(menu_button=MenuButtonDefault())
    except TelegramError as exc:
        log.warning("menu button not set reason=%s", exc)
