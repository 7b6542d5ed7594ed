"""The public channel: posting a chosen track, links to posts, removing posts."""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from html import escape

from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    Message,
)
from telegram.constants import MessageLimit
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.helpers import create_deep_linked_url

from bot.files import FileStore
from bot.public_text import PublicText
from bot.settings import Settings
from bot.telegram import keyboards
from bot.telegram.chat import chat_ref
from bot.telegram.texts import LANGUAGES, language_of, plain, text
from pipeline.model_text import unlinked
from storage import Job, TrackRow, User

log = logging.getLogger(__name__)

CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH  # 1024
DESCRIBED_CHARS = 300  # the photo's and the music's description, shared by the languages
# Telegram's answer for a message already deleted; "chat not found" (the bot is no longer
# in the channel) says nothing of the post, which may well still be there
_GONE = "message to delete not found"
_TAG = re.compile(r"</?(?:b|i|a)(?: [^>]*)?>")  # the tags our own templates use


class Feed:
    """Posts to the channel named by ``IMMU_CHANNEL`` (@name or numeric id)."""

    def __init__(self, settings: Settings, bot: Bot, files: FileStore) -> None:
        self.settings = settings
        self.bot = bot
        self.files = files
        self.public = PublicText(settings)  # links out of model text, and blocked words
        self.chat: int | str = chat_ref(settings.channel or "")
        self.chat_id: int | None = self.chat if isinstance(self.chat, int) else None
        self.username: str | None = self.chat[1:] if isinstance(self.chat, str) else None
        self.bot_username: str | None = None  # known once Telegram answered getMe

    @property
    def display_name(self) -> str:
        return f"@{self.username}" if self.username else str(self.chat)

    def resolved(self, chat_id: int, username: str | None) -> None:
        """Remember the channel's numeric id and @name once Telegram told us."""
        self.chat_id = chat_id
        self.username = username or self.username

    def is_channel(self, chat_id: int) -> bool:
        return self.chat_id is not None and chat_id == self.chat_id

    def url(self, message_id: int) -> str:
        if self.username:
            return f"https://t.me/{self.username}/{message_id}"
        internal = str(self.chat_id or self.chat).removeprefix("-100")
        return f"https://t.me/c/{internal}/{message_id}"

    def languages(self, first: str = "en") -> list[str]:
        """The channel's languages (``IMMU_CHANNEL_LANG``); with both, ``first`` leads."""
        if self.settings.channel_lang != "both":
            return [self.settings.channel_lang]
        return [first, *(lang for lang in LANGUAGES if lang != first)]

    def caption(
        self,
        job: Job,
        track: TrackRow,
        user: User,
        limit: int = CAPTION_LIMIT,
        post_id: int | None = None,
        description_chars: int = 300,
    ) -> Caption:
        """HTML caption: description, genre and mood; the name only if the person opted in.
        In the channel's language(s), the poster's first. It ends with the post's number,
        linked to its remix: a caption survives a forward, a keyboard with a callback
        button does not, so a forward of the post still names it. A small ``limit`` and
        ``description_chars`` make the short caption of a share.

        With the text, what it carries of its owner: the name and the words about the
        photo can be left out (too long, a name that is only a link), whatever the
        person's settings say."""
        signature = ""
        if post_id is not None and self.bot_username:
            remix = create_deep_linked_url(self.bot_username, keyboards.remix_payload(post_id))
            signature = text("en", "post_signature", post=post_id, remix=remix)
            limit -= len(_TAG.sub("", signature).encode("utf-16-le")) // 2 + 2
        said = self.public.of(job, track)  # None: a blocked word, so no model text at all
        langs = self.languages(language_of(user.telegram_language, user.language))
        long = DESCRIBED_CHARS // len(langs)  # both languages' descriptions share the caption
        # values are cut as plain text, then escaped: a cut never lands inside an entity
        parts: list[tuple[str, dict[str, str]]] = [("post_caption_neutral", {})] if said is None else [
            ("post_caption", {"description": _cut(said.description, description_chars),
                              "genre": _cut(said.genre, 60), "mood": _cut(said.mood, 60)}),
        ]  # fmt: skip
        if user.describe and said is not None:
            photo = _cut(said.photo, long)
            parts.append(("post_description", {"photo": photo, "music": _cut(said.music, long)}))
        if not user.anonymous and (name := unlinked(user.first_name)):  # a name can be a link
            parts.append(("post_by", {"name": _cut(name, 64)}))
        while _visible(langs, parts) > limit and len(parts) > 1:
            parts.pop(1)  # drop the long description before the essentials
        said_parts = [_in_each(text, langs, key, values) for key, values in parts]
        keys = {key for key, _ in parts}
        return Caption(
            text="\n\n".join([*said_parts, signature] if signature else said_parts),
            named="post_by" in keys,
            described="post_description" in keys,
        )

    def buttons(self, post_id: int, lang: str = "en") -> InlineKeyboardMarkup | None:
        """Under each post: remix it, or make your own (deep links into the private chat),
        in the channel's language(s); open it in the Mini App, when there is one; and
        Report, unless the operator turned reports off."""
        if not self.bot_username:
            return None
        remix = create_deep_linked_url(self.bot_username, keyboards.remix_payload(post_id))
        make = create_deep_linked_url(self.bot_username, keyboards.MAKE_PAYLOAD)
        langs = self.languages(lang)
        row = [
            InlineKeyboardButton(_in_each(plain, langs, "button_remix", {}, " / "), url=remix),
            InlineKeyboardButton(_in_each(plain, langs, "button_make_yours", {}, " / "), url=make),
        ]
        # two languages make long labels: one button a row keeps them readable on a phone
        rows = [row] if len(langs) == 1 else [[button] for button in row]
        if app := self.app_url(post_id):  # a channel takes no web_app button: a t.me link
            label = _in_each(plain, langs, "button_open_app", {}, " / ")
            rows.append([InlineKeyboardButton(label, url=app)])
        if self.settings.reports_to_hide > 0:
            rows.append([keyboards.report(langs[0], post_id)])
        return InlineKeyboardMarkup(rows)

    def app_url(self, post_id: int) -> str | None:
        """The post's page in the Mini App (``IMMU_WEBAPP_NAME``, set with @BotFather's
        /newapp); None without ``IMMU_WEBAPP_URL``."""
        if not self.settings.webapp_url or not self.bot_username:
            return None
        name = self.settings.webapp_name
        return f"https://t.me/{self.bot_username}/{name}?startapp={keyboards.app_payload(post_id)}"

    async def prepare(
        self,
        post_id: int,
        job: Job,
        track: TrackRow,
        user: User,
        *,
        to: int | str | None = None,
        note: str = "",
        markup: InlineKeyboardMarkup | None = None,
    ) -> Prepared:
        """Everything a channel post of the chosen track needs, before anything is sent:
        a failure here (a file gone, ffmpeg) proves nothing reached Telegram.

        The operators' chat gets the same media ``to`` it, with a ``note`` (plain text)
        under the caption and its own buttons.
        """
        room = CAPTION_LIMIT - (len(note.encode("utf-16-le")) // 2 + 2 if note else 0)
        composed = self.caption(job, track, user, limit=room, post_id=post_id)
        caption = composed.text
        if note:
            caption += "\n\n" + escape(note, quote=False)
        lang = language_of(user.telegram_language, user.language)
        mp3 = self.files.read(track.mp3_path)
        # a remix whose original was forgotten has no cover: a neutral one stands in
        cover = self.files.read(job.cover_path) if job.cover_path else _placeholder()
        video = None
        if self.settings.post_format == "video":
            # ffmpeg is CPU work: a thread, never the composer's GPU lane. Imported here:
            # the encoder's module loads torch, which a bot on Ray workers never needs.
            from pipeline.encoder import Encoder

            encoder = Encoder(self.settings.ffmpeg)
            video = await asyncio.to_thread(encoder.mp4, mp3, cover_jpeg=cover)
        return Prepared(
            chat=to if to is not None else self.chat,
            name=f"immu-{job.id}",
            caption=caption,
            markup=markup if to is not None else self.buttons(post_id, lang),
            title=self.public.title(job, track),
            duration=round(track.duration_s),
            mp3=mp3,
            cover=cover,
            video=video,
            named=composed.named,
            described=composed.described,
        )

    async def send(self, post: Prepared) -> Message:
        """One post of prepared media (video or audio, per ``IMMU_POST_FORMAT``)."""
        upload = self.settings.upload_timeout_s  # read and write: a big file, a busy server
        if post.video is not None:
            return await self.bot.send_video(
                post.chat,
                video=InputFile(post.video, filename=f"{post.name}.mp4"),
                caption=post.caption,
                supports_streaming=True,
                duration=post.duration,
                reply_markup=post.markup,
                read_timeout=upload,
                write_timeout=upload,
            )
        return await self.bot.send_audio(
            post.chat,
            audio=InputFile(post.mp3, filename=f"{post.name}.mp3"),
            caption=post.caption,
            title=post.title,
            performer="IMMU",
            thumbnail=InputFile(post.cover, filename="cover.jpg"),
            duration=post.duration,
            reply_markup=post.markup,
            read_timeout=upload,
            write_timeout=upload,
        )

    async def remove(self, message_id: int, chat: int | str | None = None) -> Removal:
        """Take a post down (from the channel, or ``chat``: the operators'); if Telegram will
        not delete it, blank it: a grey picture in place of the track and the photo, no
        name, no buttons. A delete whose answer is lost is asked once more (a message gone
        is "message to delete not found"); a blank with nothing left to edit means the
        delete went through."""
        chat = self.chat if chat is None else chat
        for attempt in (1, 2):
            try:
                await self.bot.delete_message(chat, message_id)
                return Removal.DELETED
            except BadRequest as exc:  # a NetworkError too: Telegram answered, so caught first
                if _GONE in str(exc).lower():  # already gone: that is what we wanted
                    return Removal.DELETED
                log.info("channel delete refused message=%d reason=%s", message_id, exc)
                break
            except NetworkError as exc:
                # the answer may be lost after Telegram deleted it: asking again is safe,
                # a message already gone is "message to delete not found"
                log.warning(
                    "channel delete unanswered message=%d try=%d reason=%s",
                    message_id,
                    attempt,
                    exc,
                )
            except TelegramError as exc:
                log.warning("channel delete failed message=%d reason=%s", message_id, exc)
                break
        try:
            await self.bot.edit_message_media(
                InputMediaPhoto(
                    _placeholder(),
                    caption=_in_each(plain, self.languages(), "post_removed", {}),
                    parse_mode=None,  # plain words, whatever the bot's default
                ),
                chat_id=chat,
                message_id=message_id,
                reply_markup=None,
            )
            return Removal.EDITED
        except TelegramError as exc:
            if isinstance(exc, BadRequest) and "message to edit not found" in str(exc).lower():
                return Removal.DELETED  # a delete whose answer was lost took it after all
            log.error("channel post stays public message=%d reason=%s", message_id, exc)
            return Removal.FAILED


@dataclass(frozen=True)
class Prepared:
    """A post ready to send: where, its media and its words."""

    chat: int | str
    name: str  # the files' name, without extension
    caption: str
    markup: InlineKeyboardMarkup | None
    title: str
    duration: int
    mp3: bytes
    cover: bytes
    video: bytes | None  # the MP4, when posts are videos
    named: bool = False  # the caption carries its owner's name
    described: bool = False  # and the words about the photo and the music


@dataclass(frozen=True)
class Caption:
    """A post's caption (HTML), and whether it carries its owner's name and the words
    about the photo: what the pages may show of the post."""

    text: str
    named: bool
    described: bool


class Removal(StrEnum):
    DELETED = "deleted"
    EDITED = "edited"  # Telegram would not delete it; blanked instead
    FAILED = "failed"  # still public


@functools.cache
def _placeholder() -> bytes:
    """A plain grey picture that replaces a post Telegram will not delete."""
    out = io.BytesIO()
    Image.new("RGB", (320, 320), (200, 200, 200)).save(out, format="JPEG")
    return out.getvalue()


def _in_each(
    render: Callable[..., str],
    langs: list[str],
    key: str,
    values: dict[str, str],
    joiner: str = "\n",
) -> str:
    """One text in each of ``langs``, in order; words that read the same appear once."""
    shown: list[str] = []
    for lang in langs:
        words = render(lang, key, **values)
        if words not in shown:
            shown.append(words)
    return joiner.join(shown)


def carried(caption: str | None) -> tuple[bool, bool]:
    """What a channel post's caption, as Telegram hands it back (a forward's: plain text,
    no tags), carries of its owner: (named, described), read by the templates' own
    lines in each language. The first paragraph is the music's description, never a
    by-line or the photo's words, whatever a model wrote."""
    paragraphs = (caption or "").split("\n\n")[1:]
    return (
        any(_lines("post_by", "name").fullmatch(p) for p in paragraphs),
        any(_lines("post_description", "photo", "music").fullmatch(p) for p in paragraphs),
    )


@functools.cache
def _lines(key: str, *fields: str) -> re.Pattern[str]:
    """A caption part as ``_in_each`` writes it: the template in one language or more,
    one after the other; each value any text on its line (``_cut`` joins lines)."""
    marker = "\x00"
    shown = []
    for lang in LANGUAGES:
        words = _TAG.sub("", plain(lang, key, **dict.fromkeys(fields, marker)))
        shown.append("[^\n]*".join(re.escape(piece) for piece in words.split(marker)))
    one = "(?:" + "|".join(shown) + ")"
    return re.compile(f"{one}(?:\n{one})*")


def _visible(langs: list[str], parts: list[tuple[str, dict[str, str]]]) -> int:
    """The caption's length as Telegram counts it: after entity parsing, in UTF-16 units."""
    shown = "\n\n".join(_TAG.sub("", _in_each(plain, langs, k, v)) for k, v in parts)
    return len(shown.encode("utf-16-le")) // 2


def _cut(value: str, limit: int) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"
