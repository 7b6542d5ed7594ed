"""Telegram handlers: parse the update, call one Studio method, render the answer."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot import keyboards
from bot.studio import Answer, Person, Studio
from bot.texts import language_of, text

Context = ContextTypes.DEFAULT_TYPE
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".heic",
    ".heif",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
)


def _studio(context: Context) -> Studio:
    studio: Studio = context.application.bot_data["studio"]
    return studio


def _person(update: Update) -> Person:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    return Person(user.id, user.first_name or "", user.language_code, chat.id)


async def _reply(update: Update, answer: Answer) -> None:
    if update.effective_message is not None and answer.text:
        await update.effective_message.reply_text(
            answer.text,
            parse_mode=ParseMode.HTML,
            reply_markup=answer.markup,
            disable_web_page_preview=True,
        )


async def start(update: Update, context: Context) -> None:
    """/start and /help; /start remix-<post> comes from the Remix button under a post."""
    studio, who = _studio(context), _person(update)
    payload = context.args[0] if context.args else ""
    if payload.startswith("remix-") and payload[6:].isdigit():
        await _reply(update, await studio.remix(who, int(payload[6:])))
        return
    await _reply(update, await studio.welcome(who))


async def photo(update: Update, context: Context) -> None:
    """A photo sent as a photo: take the largest size Telegram made."""
    message = update.effective_message
    assert message is not None and message.photo
    largest = message.photo[-1]
    await _studio(context).accept_photo(_person(update), largest.file_id, largest.file_size)


async def document(update: Update, context: Context) -> None:
    """A file: accepted if it says it is an image; anything else is refused politely."""
    message = update.effective_message
    assert message is not None and message.document is not None
    doc = message.document
    name = (doc.file_name or "").lower()
    if (doc.mime_type or "").startswith("image/") or name.endswith(IMAGE_EXTENSIONS):
        await _studio(context).accept_photo(_person(update), doc.file_id, doc.file_size)
        return
    await unsupported(update, context)


async def unsupported(update: Update, context: Context) -> None:
    """Stickers, voice notes, PDFs, text ...: say what the bot understands."""
    user = update.effective_user
    stored = await _studio(context).store.get_user(user.id) if user else None
    lang = language_of(user.language_code if user else None, stored.language if stored else None)
    await _reply(update, Answer(text(lang, "unsupported")))


async def profile(update: Update, context: Context) -> None:
    """/profile: the person's posts with their likes."""
    await _reply(update, await _studio(context).profile(_person(update)))


async def top(update: Update, context: Context) -> None:
    """/top: the most liked posts of the week."""
    await _reply(update, await _studio(context).top(_person(update)))


async def delete(update: Update, context: Context) -> None:
    """/delete: choose one of your posts to remove."""
    await _reply(update, await _studio(context).delete_menu(_person(update)))


async def anonymous(update: Update, context: Context) -> None:
    """/anonymous: show or hide the first name on posts."""
    await _reply(update, await _studio(context).toggle_anonymous(_person(update)))


async def describe(update: Update, context: Context) -> None:
    """/describe: plain-language descriptions on posts, on or off."""
    await _reply(update, await _studio(context).toggle_describe(_person(update)))


async def lang(update: Update, context: Context) -> None:
    """/lang [en|ko]: switch the bot's language."""
    wanted = context.args[0].lower() if context.args else None
    await _reply(update, await _studio(context).switch_language(_person(update), wanted))


async def forget(update: Update, context: Context) -> None:
    """/forget: delete everything of the person, after a confirmation."""
    await _reply(update, await _studio(context).forget_menu(_person(update)))


async def stats(update: Update, context: Context) -> None:
    """/stats: queue and store figures, for admins only."""
    await _reply(update, await _studio(context).stats(_person(update)))


async def button(update: Update, context: Context) -> None:
    """Every inline button: the data says what; the Studio checks who."""
    query = update.callback_query
    assert query is not None
    studio, who = _studio(context), _person(update)
    callback = keyboards.parse(query.data)
    if callback is None:
        await query.answer()
        return
    if callback.action == keyboards.PICK:
        answer = await studio.pick(who, *callback.ids)
    elif callback.action == keyboards.REGENERATE:
        answer = await studio.regenerate(who, callback.ids[0])
    elif callback.action == keyboards.CANCEL:
        answer = await studio.cancel(who, callback.ids[0])
    elif callback.action == keyboards.DELETE:
        answer = await studio.delete_post(who, callback.ids[0])
    else:
        answer = await studio.forget(who, callback.ids[0])
    await query.answer(answer.text[:200] or None, show_alert=answer.alert)


async def reaction_count(update: Update, context: Context) -> None:
    """Reaction totals on a channel post: they are the post's likes."""
    counts_update = update.message_reaction_count
    assert counts_update is not None
    counts: dict[str, int] = {}
    for reaction in counts_update.reactions:
        kind = reaction.type
        key = getattr(kind, "emoji", None) or getattr(kind, "custom_emoji_id", None) or kind.type
        counts[str(key)] = counts.get(str(key), 0) + reaction.total_count
    await _studio(context).reactions(counts_update.chat.id, counts_update.message_id, counts)
