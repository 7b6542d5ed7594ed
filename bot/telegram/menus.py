"""The command menus Telegram shows beside the text box, in each person's language.

People see theirs in English, or in Korean when their app is in Korean; the operators'
commands appear only in the chats where operators work (each admin's private chat and
the operators' room), never to everyone.
"""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from bot.settings import Settings
from bot.telegram.chat import chat_ref
from bot.telegram.texts import LANGUAGES, plain

log = logging.getLogger(__name__)

PEOPLE = (
    "start", "profile", "top", "delete", "anonymous", "describe", "lang", "forget", "id", "help",
)  # fmt: skip
OPERATORS = ("stats", "ban", "unban")


def commands(lang: str, names: tuple[str, ...]) -> list[BotCommand]:
    return [BotCommand(name, plain(lang, f"command_{name}")) for name in names]


async def set_command_menus(bot: Bot, settings: Settings) -> None:
    """Set every menu once at start-up; a refusal is logged, the bot runs without it."""
    try:
        for lang in LANGUAGES:
            code = None if lang == "en" else lang  # English is everyone else's default
            await bot.set_my_commands(
                commands(lang, PEOPLE), scope=BotCommandScopeDefault(), language_code=code
            )
        rooms: list[int | str] = list(settings.admin_ids)
        if settings.review_chat:
            rooms.append(chat_ref(settings.review_chat))
        for room in rooms:
            # operators' chats: their commands after the people's, in English (one room)
            everything = commands("en", PEOPLE + OPERATORS)
            await bot.set_my_commands(everything, scope=BotCommandScopeChat(room))
    except TelegramError as exc:
        log.warning("command menu not set reason=%s", exc)
