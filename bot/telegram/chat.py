"""Who is speaking, what we answer, and sending to people's chats.

Telegram's errors when sending or editing are handled here, in one place: a person
who blocked the bot is logged and skipped, any other refusal is logged, and the
caller goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError

from bot.pseudonym import uid
from bot.telegram.texts import language_of, text
from bot.telegram.transport import NotSent
from storage import Job, Store

log = logging.getLogger(__name__)

SEND_TRIES = 3  # a message sends again only when it surely never reached Telegram
SEND_BACKOFF_S = 0.5
T = TypeVar("T")


@dataclass(frozen=True)
class Person:
    """Who is talking to the bot, as Telegram says."""

    id: int
    first_name: str
    language_code: str | None
    chat_id: int


@dataclass(frozen=True)
class Answer:
    """What a handler shows: a text (HTML), maybe a keyboard, maybe as a popup."""

    text: str
    markup: Any = None
    alert: bool = False


class Chat:
    """The people's side of Telegram: their language, and messages to their chats."""

    def __init__(self, bot: Bot, store: Store) -> None:
        self.bot = bot
        self.store = store
        self._chosen: dict[int, str] = {}

    async def meet(self, who: Person) -> str:
        """Record the person as Telegram describes them now; returns their language."""
        user = await self.store.upsert_user(who.id, who.first_name, who.language_code or "")
        self.chose(who.id, user.language)
        return language_of(user.telegram_language, user.language)

    def chose(self, user_id: int, language: str | None) -> None:
        """Remember a /lang choice (None: Telegram's), so an instant answer needs no store
        read. Only choices are kept: one entry per person who used /lang, at most."""
        if language is None:
            self._chosen.pop(user_id, None)
        else:
            self._chosen[user_id] = language

    def instant_language(self, who: Person) -> str:
        """The person's language without the store: their /lang choice if seen since the
        start, else their Telegram app's."""
        return language_of(who.language_code, self._chosen.get(who.id))

    async def language(self, user_id: int) -> str:
        user = await self.store.get_user(user_id)
        return language_of(user.telegram_language, user.language) if user else "en"

    async def owned_job(self, who: Person, job_id: int, lang: str) -> Job | Answer:
        """The job if ``who`` sent its photo; otherwise the refusal to show them."""
        job = await self.store.get_job(job_id)
        if job is None:
            return Answer(text(lang, "expired"), alert=True)
        if job.user_id != who.id:
            log.warning("foreign action refused job=%d user=%s", job_id, uid(who.id))
            return Answer(text(lang, "not_yours"), alert=True)
        return job

    async def say(self, chat_id: int | str, message: str, markup: Any = None) -> Message | None:
        """Send a message; None if it could not be sent (logged).

        Sent again only when the request never reached Telegram (``NotSent``). After a
        5xx, a reset or a timeout Telegram may have sent it: twice is worse than once.
        """
        try:
            return await _again_when_safe(
                lambda: self.bot.send_message(
                    chat_id, message, reply_markup=markup
                ),
                idempotent=False,
            )  # fmt: skip
        except Forbidden:
            log.info("cannot message chat=%s: blocked", _chat(chat_id))
        except TelegramError as exc:  # refused, or maybe sent: never again blindly
            log.warning("send failed chat=%s reason=%s", _chat(chat_id), exc)
        except Exception as exc:  # an answer that is not what the Bot API promises
            log.error(
                "send failed chat=%s unexpected=%s: %s", _chat(chat_id), type(exc).__name__, exc
            )
        return None

    async def set_keyboard(self, chat_id: int, message_id: int, markup: Any) -> bool:
        """Replace a message's keyboard, again after a 5xx or a timeout (the same edit twice
        changes nothing); False if Telegram refused it (logged)."""
        try:
            await _again_when_safe(
                lambda: self.bot.edit_message_reply_markup(
                    chat_id, message_id, reply_markup=markup
                ),
                idempotent=True,
            )
            return True
        except BadRequest as exc:
            if "not modified" in str(exc).lower():  # an earlier try got through
                return True
            log.info("keyboard not replaced message=%d reason=%s", message_id, exc)
        except TelegramError as exc:
            log.info("keyboard not replaced message=%d reason=%s", message_id, exc)
        return False

    async def edit_or_say(
        self,
        chat_id: int,
        message_id: int | None,
        message: str,
        *,
        send_if_missing: bool = True,
        markup: Any = None,
    ) -> int | None:
        """Replace a status message's text (and keyboard); send a new one if it is gone.
        Returns the id of the message that now shows it, if any."""
        if message_id is not None:
            try:
                await self.bot.edit_message_text(message, chat_id, message_id, reply_markup=markup)
                return message_id
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return message_id
                log.info("edit failed, sending instead reason=%s", exc)
            except TelegramError as exc:
                log.info("edit failed reason=%s", exc)
                return None
        if send_if_missing:
            sent = await self.say(chat_id, message, markup)
            return sent.message_id if sent else None
        return None


def chat_ref(name: str) -> int | str:
    """A chat as a setting names it (``@name``, ``name`` or a numeric id), as the Bot API
    takes it."""
    name = name.strip()
    if name.lstrip("-").isdigit():
        return int(name)
    return name if name.startswith("@") else f"@{name}"


def _chat(chat_id: int | str) -> str:
    """A private chat's id is its person's: hashed in the log; a room's @name is public."""
    return uid(chat_id) if isinstance(chat_id, int) and chat_id > 0 else str(chat_id)


async def _again_when_safe(call: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
    """``call()``, again up to ``SEND_TRIES`` times when that cannot do it twice: after
    ``NotSent`` always; after a 5xx, a reset or a timeout only if the call is
    ``idempotent`` (an edit to the same content). The last error is raised."""
    for attempt in range(1, SEND_TRIES + 1):
        try:
            return await call()
        except NetworkError as exc:
            again = isinstance(exc, NotSent) or (idempotent and not isinstance(exc, BadRequest))
            if not again or attempt == SEND_TRIES:
                raise
            await asyncio.sleep(SEND_BACKOFF_S * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
