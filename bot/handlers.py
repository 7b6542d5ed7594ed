"""Telegram handlers: parse the update, call one service, render the answer.

Each callback action has its own handler, registered in ``bot.app`` with the strict
pattern from ``bot.keyboards``; ``context.matches`` holds the parsed ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Update
from telegram.ext import ContextTypes

from bot.account import Account
from bot.chat import Answer, Chat, Person
from bot.intake import Intake
from bot.jobs import Jobs
from bot.likes import Likes
from bot.posting import Posting
from bot.texts import language_of, text

Context = ContextTypes.DEFAULT_TYPE
IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".gif", ".bmp", ".tif", ".tiff",
)  # fmt: skip


@dataclass(frozen=True)
class Services:
    """What handlers may call; built once in ``bot.app`` and kept in ``bot_data``."""

    chat: Chat
    intake: Intake
    jobs: Jobs
    posting: Posting
    account: Account
    likes: Likes


def _services(context: Context) -> Services:
    services: Services = context.application.bot_data["services"]
    return services


def _person(update: Update) -> Person:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    return Person(user.id, user.first_name or "", user.language_code, chat.id)


def _ids(context: Context) -> tuple[int, ...] | None:
    """The numbers the handler's pattern matched (ASCII digits, bounded); None for a tap
    without data, which PTB lets through every pattern."""
    match = context.matches[0] if context.matches else None
    if not isinstance(match, re.Match):
        return None
    return tuple(int(group) for group in match.groups())


async def _reply(update: Update, context: Context, answer: Answer) -> None:
    if update.effective_chat is not None and answer.text:
        await _services(context).chat.say(update.effective_chat.id, answer.text, answer.markup)


async def _popup(update: Update, answer: Answer) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer(answer.text[:200] or None, show_alert=answer.alert)


# --- commands ---


async def start(update: Update, context: Context) -> None:
    """/start and /help (and any unknown command): what the bot does."""
    await _reply(update, context, await _services(context).account.welcome(_person(update)))


async def remix(update: Update, context: Context) -> None:
    """/start remix-<post>: the deep link under a channel post."""
    ids = _ids(context)
    if ids is None:
        return await start(update, context)
    (post_id,) = ids
    await _reply(update, context, await _services(context).intake.remix(_person(update), post_id))


async def profile(update: Update, context: Context) -> None:
    """/profile: the person's posts with their likes."""
    await _reply(update, context, await _services(context).account.profile(_person(update)))


async def top(update: Update, context: Context) -> None:
    """/top: the most liked posts of the week."""
    await _reply(update, context, await _services(context).account.top(_person(update)))


async def delete(update: Update, context: Context) -> None:
    """/delete: choose one of your posts to remove."""
    await _reply(update, context, await _services(context).account.delete_menu(_person(update)))


async def anonymous(update: Update, context: Context) -> None:
    """/anonymous: show or hide the first name on posts."""
    await _reply(
        update, context, await _services(context).account.toggle_anonymous(_person(update))
    )


async def describe(update: Update, context: Context) -> None:
    """/describe: plain-language descriptions on posts, on or off."""
    await _reply(update, context, await _services(context).account.toggle_describe(_person(update)))


async def lang(update: Update, context: Context) -> None:
    """/lang [en|ko]: switch the bot's language."""
    wanted = context.args[0].lower() if context.args else None
    await _reply(
        update, context, await _services(context).account.switch_language(_person(update), wanted)
    )


async def forget(update: Update, context: Context) -> None:
    """/forget: delete everything of the person, after a confirmation."""
    await _reply(update, context, await _services(context).account.forget_menu(_person(update)))


async def stats(update: Update, context: Context) -> None:
    """/stats: queue and store figures, for admins only."""
    await _reply(update, context, await _services(context).account.stats(_person(update)))


# --- photos and everything else people send ---


async def photo(update: Update, context: Context) -> None:
    """A photo sent as a photo: take the largest size Telegram made."""
    message = update.effective_message
    assert message is not None and message.photo
    largest = message.photo[-1]
    await _services(context).intake.photo(_person(update), largest.file_id, largest.file_size)


async def document(update: Update, context: Context) -> None:
    """A file: accepted if it says it is an image; anything else is refused politely."""
    message = update.effective_message
    assert message is not None and message.document is not None
    doc = message.document
    name = (doc.file_name or "").lower()
    if (doc.mime_type or "").startswith("image/") or name.endswith(IMAGE_EXTENSIONS):
        await _services(context).intake.photo(_person(update), doc.file_id, doc.file_size)
        return
    await unsupported(update, context)


async def unsupported(update: Update, context: Context) -> None:
    """Stickers, voice notes, PDFs, text ...: say what the bot understands."""
    user = update.effective_user
    stored = await _services(context).chat.store.get_user(user.id) if user else None
    lang = language_of(user.language_code if user else None, stored.language if stored else None)
    await _reply(update, context, Answer(text(lang, "unsupported")))


async def forwarded(update: Update, context: Context) -> None:
    """A channel post forwarded to the bot: settles a post Telegram never confirmed."""
    assert update.message is not None
    answer = await _services(context).posting.settle(_person(update), update.message)
    await _reply(update, context, answer)


async def in_group(update: Update, context: Context) -> None:
    """A command or photo in a group: IMMU composes and posts only from private chats."""
    user = update.effective_user
    lang = language_of(user.language_code if user else None)
    await _reply(update, context, Answer(text(lang, "private_only", bot=context.bot.username)))


# --- buttons ---


async def pick(update: Update, context: Context) -> None:
    """ "Post track N": publish the choice to the channel, once."""
    ids = _ids(context)
    if ids is None:
        return await stale_button(update, context)
    job_id, track = ids
    await _popup(update, await _services(context).posting.pick(_person(update), job_id, track))


async def regenerate(update: Update, context: Context) -> None:
    """ "New tracks from this photo"."""
    ids = _ids(context)
    if ids is None:
        return await stale_button(update, context)
    (job_id,) = ids
    await _popup(update, await _services(context).intake.regenerate(_person(update), job_id))


async def cancel(update: Update, context: Context) -> None:
    """ "Cancel" on a queued job or on tracks nobody chose."""
    ids = _ids(context)
    if ids is None:
        return await stale_button(update, context)
    (job_id,) = ids
    await _popup(update, await _services(context).jobs.cancel(_person(update), job_id))


async def delete_post(update: Update, context: Context) -> None:
    """A post chosen from /delete."""
    ids = _ids(context)
    if ids is None:
        return await stale_button(update, context)
    (post_id,) = ids
    await _popup(update, await _services(context).posting.delete(_person(update), post_id))


async def forget_confirmed(update: Update, context: Context) -> None:
    """ "Yes, delete everything" under /forget."""
    ids = _ids(context)
    if ids is None:
        return await stale_button(update, context)
    (user_id,) = ids
    answer = await _services(context).posting.forget(_person(update), user_id)
    await _popup(update, answer)
    if answer.alert:  # what could not be removed is too long for a popup: in the chat too
        await _reply(update, context, answer)


async def stale_button(update: Update, context: Context) -> None:
    """Any other callback data (old, forged or junk): answered, nothing done."""
    assert update.callback_query is not None
    await update.callback_query.answer()


# --- the channel ---


async def reaction_count(update: Update, context: Context) -> None:
    """Reaction totals on a channel post: they are the post's likes."""
    counts_update = update.message_reaction_count
    assert counts_update is not None
    counts: dict[str, int] = {}
    for reaction in counts_update.reactions:
        kind = reaction.type
        key = getattr(kind, "emoji", None) or getattr(kind, "custom_emoji_id", None) or kind.type
        counts[str(key)] = counts.get(str(key), 0) + reaction.total_count
    await _services(context).likes.count(counts_update.chat.id, counts_update.message_id, counts)
