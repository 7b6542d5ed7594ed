"""Telegram handlers for moderation: operators' decisions, readers' reports, /ban, /unban.

Thin like ``bot.handlers``: parse, call ``Moderation`` or ``Review``, render the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot import keyboards
from bot.handlers import Context, _ids, _person, _popup, _reply, stale_button
from bot.moderation import Moderation
from bot.review import Decision, Review, _chat_ref
from bot.settings import Settings


@dataclass(frozen=True)
class ModerationServices:
    """What these handlers may call; built in ``bot.app``, kept in ``bot_data``."""

    moderation: Moderation
    review: Review


def register(app: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Wire the commands (in private chats and the operators' chat) and the buttons."""
    where: filters.BaseFilter = filters.ChatType.PRIVATE
    if settings.review_chat:
        room = _chat_ref(settings.review_chat)
        where = where | (
            filters.Chat(chat_id=room) if isinstance(room, int) else filters.Chat(username=room)
        )
    app.add_handler(CommandHandler("ban", ban, filters=where))
    app.add_handler(CommandHandler("unban", unban, filters=where))
    app.add_handler(CallbackQueryHandler(approve, pattern=keyboards.APPROVE))
    app.add_handler(CallbackQueryHandler(reject, pattern=keyboards.REJECT))
    app.add_handler(CallbackQueryHandler(restore, pattern=keyboards.RESTORE))
    app.add_handler(CallbackQueryHandler(remove, pattern=keyboards.REMOVE))
    app.add_handler(CallbackQueryHandler(report, pattern=keyboards.REPORT))


def _services(context: Context) -> ModerationServices:
    services: ModerationServices = context.application.bot_data["moderation"]
    return services


async def ban(update: Update, context: Context) -> None:
    """/ban <id> [--purge], admins only."""
    answer = await _services(context).moderation.ban(_person(update), list(context.args or []))
    await _reply(update, context, answer)


async def unban(update: Update, context: Context) -> None:
    """/unban <id>, admins only."""
    answer = await _services(context).moderation.unban(_person(update), list(context.args or []))
    await _reply(update, context, answer)


async def _decide(update: Update, context: Context, decision: Decision) -> None:
    ids = _ids(context)
    if ids is None:
        return await stale_button(update, context)
    (post_id,) = ids
    query = update.callback_query
    assert query is not None
    message = query.message
    tapped = (message.chat.id, message.message_id) if message is not None else None
    answer = await _services(context).review.decide(_person(update), post_id, decision, tapped)
    await _popup(update, answer)


async def approve(update: Update, context: Context) -> None:
    """ "Approve" under a post in review: it goes to the channel, once."""
    await _decide(update, context, Decision.APPROVE)


async def reject(update: Update, context: Context) -> None:
    """ "Reject" under a post in review: it never goes to the channel."""
    await _decide(update, context, Decision.REJECT)


async def restore(update: Update, context: Context) -> None:
    """ "Restore" under a post taken down after reports: it is posted again."""
    await _decide(update, context, Decision.RESTORE)


async def remove(update: Update, context: Context) -> None:
    """ "Remove for good" under a post taken down after reports."""
    await _decide(update, context, Decision.REMOVE)


async def report(update: Update, context: Context) -> None:
    """ "Report" under a channel post: one report per reader per post."""
    ids = _ids(context)
    if ids is None:
        return await stale_button(update, context)
    (post_id,) = ids
    await _popup(update, await _services(context).review.report(_person(update), post_id))
