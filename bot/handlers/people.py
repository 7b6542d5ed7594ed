"""People's handlers: commands, photos, buttons in their private chat, reactions.

Each parses the update, calls one service, and renders the answer. ``register`` adds
them in order (the first matching handler wins): deep links before /start, forwarded
tracks before photos, the catch-all button handler last.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    MessageReactionHandler,
    filters,
)

from bot.handlers.context import Context, matched_ids, offer, person, popup, reply
from bot.telegram import keyboards
from bot.telegram.chat import Answer
from bot.telegram.texts import language_of, text

IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".gif", ".bmp", ".tif", ".tiff",
)  # fmt: skip


def register(app: Application) -> None:  # type: ignore[type-arg]
    """Every people's handler, in the order PTB tries them."""
    private = filters.ChatType.PRIVATE
    remix_link = filters.Regex(keyboards.REMIX_PAYLOAD.pattern.replace("^", "^/start "))
    app.add_handler(CommandHandler("start", remix, filters=private & remix_link))
    app.add_handler(CommandHandler(["start", "help"], start, filters=private))
    app.add_handler(CommandHandler("profile", profile, filters=private))
    app.add_handler(CommandHandler("top", top, filters=private))
    app.add_handler(CommandHandler("delete", delete, filters=private))
    app.add_handler(CommandHandler("anonymous", anonymous, filters=private))
    app.add_handler(CommandHandler("describe", describe, filters=private))
    app.add_handler(CommandHandler("lang", lang, filters=private))
    app.add_handler(CommandHandler("forget", forget, filters=private))
    app.add_handler(CommandHandler("id", your_id, filters=private))
    app.add_handler(CommandHandler("app", open_app, filters=private))
    forwarded_track = filters.FORWARDED & (filters.AUDIO | filters.VIDEO)
    app.add_handler(MessageHandler(private & forwarded_track, forwarded))
    app.add_handler(MessageHandler(private & filters.PHOTO, photo))
    app.add_handler(MessageHandler(private & filters.Document.ALL, document))
    app.add_handler(MessageHandler(private & ~filters.COMMAND, unsupported))
    app.add_handler(MessageHandler(private & filters.COMMAND, start))
    app.add_handler(CallbackQueryHandler(pick, pattern=keyboards.PICK))
    app.add_handler(CallbackQueryHandler(regenerate, pattern=keyboards.REGENERATE))
    app.add_handler(CallbackQueryHandler(cancel, pattern=keyboards.CANCEL))
    app.add_handler(CallbackQueryHandler(delete_post, pattern=keyboards.DELETE))
    app.add_handler(CallbackQueryHandler(forget_confirmed, pattern=keyboards.FORGET))
    app.add_handler(CallbackQueryHandler(stale_button))
    # in a group: commands and photos get one line pointing to the private chat
    asked = filters.COMMAND | filters.PHOTO | filters.Document.IMAGE
    app.add_handler(MessageHandler(filters.ChatType.GROUPS & asked, in_group))
    app.add_handler(MessageReactionHandler(reaction_count))
    app.add_handler(InlineQueryHandler(share))


# --- commands ---


async def start(update: Update, context: Context) -> None:
    """/start and /help (and any unknown command): what the bot does."""
    await reply(update, context, await context.services.account.welcome(person(update)))


async def remix(update: Update, context: Context) -> None:
    """/start remix-<post>: the deep link under a channel post."""
    ids = matched_ids(context)
    if ids is None:
        return await start(update, context)
    (post_id,) = ids
    await reply(update, context, await context.services.intake.remix(person(update), post_id))


async def profile(update: Update, context: Context) -> None:
    """/profile: the person's posts with their likes."""
    await reply(update, context, await context.services.account.profile(person(update)))


async def top(update: Update, context: Context) -> None:
    """/top: the most liked posts of the week."""
    await reply(update, context, await context.services.account.top(person(update)))


async def delete(update: Update, context: Context) -> None:
    """/delete: choose one of your posts to remove."""
    await reply(update, context, await context.services.account.delete_menu(person(update)))


async def anonymous(update: Update, context: Context) -> None:
    """/anonymous: show or hide the first name on posts."""
    await reply(update, context, await context.services.account.toggle_anonymous(person(update)))


async def describe(update: Update, context: Context) -> None:
    """/describe: plain-language descriptions on posts, on or off."""
    await reply(update, context, await context.services.account.toggle_describe(person(update)))


async def lang(update: Update, context: Context) -> None:
    """/lang [en|ko]: switch the bot's language."""
    wanted = context.args[0].lower() if context.args else None
    await reply(
        update, context, await context.services.account.switch_language(person(update), wanted)
    )


async def forget(update: Update, context: Context) -> None:
    """/forget: delete everything of the person, after a confirmation."""
    await reply(update, context, await context.services.account.forget_menu(person(update)))


async def your_id(update: Update, context: Context) -> None:
    """/id: the person's numeric Telegram id, which an operator puts in IMMU_ADMIN_IDS or
    IMMU_ALLOWED_IDS (Telegram's apps show nobody their own id)."""
    who = person(update)
    lang = context.services.chat.instant_language(who)  # nothing stored for a question
    await reply(update, context, Answer(text(lang, "your_id", user_id=who.id)))


async def open_app(update: Update, context: Context) -> None:
    """/app: a button that opens the Mini App's pages (or why there are none)."""
    await reply(update, context, await context.services.account.app(person(update)))


# --- photos and everything else people send ---


async def photo(update: Update, context: Context) -> None:
    """A photo sent as a photo: take the largest size Telegram made."""
    message = update.effective_message
    assert message is not None and message.photo
    largest = message.photo[-1]
    await context.services.intake.photo(person(update), largest.file_id, largest.file_size)


async def document(update: Update, context: Context) -> None:
    """A file: accepted if it says it is an image; anything else is refused politely."""
    message = update.effective_message
    assert message is not None and message.document is not None
    doc = message.document
    name = (doc.file_name or "").lower()
    if (doc.mime_type or "").startswith("image/") or name.endswith(IMAGE_EXTENSIONS):
        await context.services.intake.photo(person(update), doc.file_id, doc.file_size)
        return
    await unsupported(update, context)


async def unsupported(update: Update, context: Context) -> None:
    """Stickers, voice notes, PDFs, text ...: say what the bot understands."""
    user = update.effective_user
    stored = await context.services.chat.store.get_user(user.id) if user else None
    lang = language_of(user.language_code if user else None, stored.language if stored else None)
    await reply(update, context, Answer(text(lang, "unsupported")))


async def forwarded(update: Update, context: Context) -> None:
    """A channel post forwarded to the bot: settles a post Telegram never confirmed."""
    assert update.message is not None
    answer = await context.services.posting.settle(person(update), update.message)
    await reply(update, context, answer)


async def in_group(update: Update, context: Context) -> None:
    """A command or photo in a group: IMMU composes and posts only from private chats."""
    user = update.effective_user
    lang = language_of(user.language_code if user else None)
    await reply(update, context, Answer(text(lang, "private_only", bot=context.bot.username)))


# --- buttons ---


async def pick(update: Update, context: Context) -> None:
    """ "Post track N": publish the choice to the channel, once."""
    ids = matched_ids(context)
    if ids is None:
        return await stale_button(update, context)
    job_id, track = ids
    await popup(update, await context.services.posting.pick(person(update), job_id, track))


async def regenerate(update: Update, context: Context) -> None:
    """ "New tracks from this photo"."""
    ids = matched_ids(context)
    if ids is None:
        return await stale_button(update, context)
    (job_id,) = ids
    await popup(update, await context.services.intake.regenerate(person(update), job_id))


async def cancel(update: Update, context: Context) -> None:
    """ "Cancel" on a queued job or on tracks nobody chose."""
    ids = matched_ids(context)
    if ids is None:
        return await stale_button(update, context)
    (job_id,) = ids
    await popup(update, await context.services.jobs.cancel(person(update), job_id))


async def delete_post(update: Update, context: Context) -> None:
    """A post chosen from /delete."""
    ids = matched_ids(context)
    if ids is None:
        return await stale_button(update, context)
    (post_id,) = ids
    await popup(update, await context.services.posting.delete(person(update), post_id))


async def forget_confirmed(update: Update, context: Context) -> None:
    """ "Yes, delete everything" under /forget."""
    ids = matched_ids(context)
    if ids is None:
        return await stale_button(update, context)
    (user_id,) = ids
    answer = await context.services.posting.forget(person(update), user_id)
    await popup(update, answer)
    if answer.alert:  # what could not be removed is too long for a popup: in the chat too
        await reply(update, context, answer)


async def stale_button(update: Update, context: Context) -> None:
    """Any other callback data (old, forged or junk): answered, nothing done."""
    assert update.callback_query is not None
    await update.callback_query.answer()


# --- sharing into any chat ---


async def share(update: Update, context: Context) -> None:
    """The bot's name typed in any chat: tracks to send there."""
    query = update.inline_query
    assert query is not None
    who = query.from_user
    shares = await context.services.sharing.inline(
        who.id, who.language_code, query.query, query.offset
    )
    await offer(query, shares)


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
    await context.services.likes.count(counts_update.chat.id, counts_update.message_id, counts)
