"""Operators' handlers: /stats, /ban, /unban, decisions on held and reported posts, and
readers' reports (the button under each channel post).

Thin like the people's: parse, call ``Moderation``, ``Review`` or ``Account``, render.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.handlers.context import Context, matched_ids, person, popup, reply
from bot.handlers.people import stale_button
from bot.review import Decision
from bot.settings import Settings
from bot.telegram import keyboards
from bot.telegram.chat import chat_ref


def register(app: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Wire the commands (in private chats and the operators' chat) and the buttons."""
    where: filters.BaseFilter = filters.ChatType.PRIVATE
    if settings.review_chat:
        room = chat_ref(settings.review_chat)
        where = where | (
            filters.Chat(chat_id=room) if isinstance(room, int) else filters.Chat(username=room)
        )
    app.add_handler(CommandHandler("stats", stats, filters=filters.ChatType.PRIVATE))
    app.add_handler(CommandHandler("ban", ban, filters=where))
    app.add_handler(CommandHandler("unban", unban, filters=where))
    app.add_handler(CallbackQueryHandler(approve, pattern=keyboards.APPROVE))
    app.add_handler(CallbackQueryHandler(reject, pattern=keyboards.REJECT))
    app.add_handler(CallbackQueryHandler(restore, pattern=keyboards.RESTORE))
    app.add_handler(CallbackQueryHandler(remove, pattern=keyboards.REMOVE))
    app.add_handler(CallbackQueryHandler(report, pattern=keyboards.REPORT))


async def stats(update: Update, context: Context) -> None:
    """/stats: queue and store figures, for admins only."""
    await reply(update, context, await context.services.account.stats(person(update)))


async def ban(update: Update, context: Context) -> None:
    """/ban <id> [--purge], admins only."""
    answer = await context.services.moderation.ban(person(update), list(context.args or []))
    await reply(update, context, answer)


async def unban(update: Update, context: Context) -> None:
    """/unban <id>, admins only."""
    answer = await context.services.moderation.unban(person(update), list(context.args or []))
    await reply(update, context, answer)


async def _decide(update: Update, context: Context, decision: Decision) -> None:
    ids = matched_ids(context)
    if ids is None:
        return await stale_button(update, context)
    (post_id,) = ids
    query = update.callback_query
    assert query is not None
    message = query.message
    tapped = (message.chat.id, message.message_id) if message is not None else None
    answer = await context.services.review.decide(person(update), post_id, decision, tapped)
    await popup(update, answer)


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
    ids = matched_ids(context)
    if ids is None:
        return await stale_button(update, context)
    (post_id,) = ids
    await popup(update, await context.services.review.report(person(update), post_id))
