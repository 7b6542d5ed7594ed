"""What every handler gets: a typed context with the services, and the update parsed.

PTB's ``ContextTypes(context=Context)`` makes ``context.services`` typed everywhere, so
no handler reaches into ``bot_data`` by a string key.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from telegram import InlineQuery, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackContext, ExtBot

from bot.account import Account
from bot.intake import Intake
from bot.jobs import Jobs
from bot.likes import Likes
from bot.moderation import Moderation
from bot.posting import Posting
from bot.review import Review
from bot.sharing import Shares, Sharing
from bot.telegram.chat import Answer, Chat, Person

log = logging.getLogger(__name__)

SERVICES = "services"  # the bot_data key, used only here


@dataclass(frozen=True)
class Services:
    """What handlers may call; built once in ``bot.app``."""

    chat: Chat
    intake: Intake
    jobs: Jobs
    posting: Posting
    account: Account
    likes: Likes
    moderation: Moderation
    review: Review
    sharing: Sharing


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's callback context, with IMMU's services typed."""

    @property
    def services(self) -> Services:
        return services_of(self.application)


def provide(app: Application[Any, Any, Any, Any, Any, Any], services: Services) -> None:
    """Hand the services to every handler (``context.services``)."""
    app.bot_data[SERVICES] = services


def services_of(app: Application[Any, Any, Any, Any, Any, Any]) -> Services:
    services: Services = app.bot_data[SERVICES]
    return services


def person(update: Update) -> Person:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    return Person(user.id, user.first_name or "", user.language_code, chat.id)


def matched_ids(context: Context) -> tuple[int, ...] | None:
    """The numbers the handler's pattern matched (ASCII digits, bounded); None for a tap
    without data, which PTB lets through every pattern."""
    match = context.matches[0] if context.matches else None
    if not isinstance(match, re.Match):
        return None
    return tuple(int(group) for group in match.groups())


async def reply(update: Update, context: Context, answer: Answer) -> None:
    if update.effective_chat is not None and answer.text:
        await context.services.chat.say(update.effective_chat.id, answer.text, answer.markup)


async def popup(update: Update, answer: Answer) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer(answer.text[:200] or None, show_alert=answer.alert)


async def offer(query: InlineQuery, shares: Shares) -> None:
    """Answer an inline query: personal (each person sees their own tracks, and a deleted
    one must not reach anyone else from a shared cache), cached only briefly."""
    try:
        await query.answer(
            shares.results,
            cache_time=shares.cache_s,
            is_personal=True,
            # None, never "": PTB's Defaults turn an empty string into "[]", which a client
            # would send back as the offset of yet another page
            next_offset=shares.next_offset or None,
            button=shares.button,
        )
    except BadRequest as exc:  # the person typed on: Telegram dropped this query already
        if "query is too old" not in str(exc).lower():
            raise
        log.info("inline answer too late reason=%s", exc)
