"""Sharing tracks into any chat: inline mode, the bot's name typed in a chat's text box.

An empty query offers the person's own public tracks; a word, the feed's public tracks
whose genre or mood holds it. A result is the channel post's own file (its Telegram file
id, kept since the store's version 7: older posts have none and are not offered), with
the post's caption kept short and a "Make your own" link into the bot. Answers are
personal and cached briefly, so a track deleted, hidden, taken down or forgotten stops
showing at once; banned people's tracks never show, and banned people get nothing. A
person's queries beyond ``IMMU_INLINE_RATE`` a minute are answered with nothing, before
the store is asked anything.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResult,
    InlineQueryResultCachedAudio,
    InlineQueryResultCachedVideo,
    InlineQueryResultsButton,
)
from telegram.constants import ParseMode
from telegram.helpers import create_deep_linked_url

from bot.feed import Feed
from bot.pseudonym import uid
from bot.ratelimit import RateLimit
from bot.telegram import keyboards
from bot.telegram.texts import language_of, plain
from storage import Post, Store, User

log = logging.getLogger(__name__)

RESULTS = 50  # Telegram's most per answer; more come with the next offset
CACHE_S = 10  # how long Telegram may show an answer again: a deleted track goes this fast
LIMITED_CACHE_S = 2  # an answer refused for the rate: asked again soon, it may have results
QUERY_CHARS = 64  # a genre or a mood is short; a longer query matches nothing anyway
CAPTION_CHARS = 300  # a share's caption: the essentials, the name and the post's number
DESCRIPTION_CHARS = 100
_OFFSET = re.compile(r"[0-9]{1,12}\Z")  # ours (a post id), but it comes back from clients


@dataclass(frozen=True)
class Shares:
    """One page of inline results, and the offset of the next ("" for none)."""

    results: list[InlineQueryResult] = field(default_factory=list)
    next_offset: str = ""
    button: InlineQueryResultsButton | None = None  # above the results: into the bot
    cache_s: int = CACHE_S  # how long Telegram may show it again


class Sharing:
    def __init__(self, store: Store, feed: Feed, per_minute: int) -> None:
        self.store = store
        self.feed = feed
        self.rate = RateLimit(per_minute)

    async def inline(
        self, user_id: int, language_code: str | None, query: str, offset: str
    ) -> Shares:
        """The results for an inline query of ``user_id``, from ``offset`` (the last
        page's last post id)."""
        if not self.rate.allow(user_id):
            log.debug("inline query over the rate user=%s", uid(user_id))
            return Shares(cache_s=LIMITED_CACHE_S)
        if await self.store.is_banned(user_id):
            return Shares()
        stored = await self.store.get_user(user_id)  # read only: a query makes no user
        lang = language_of(language_code, stored.language if stored else None)
        before = int(offset) if _OFFSET.match(offset) else None
        word = " ".join(query.split())[:QUERY_CHARS]
        if word:
            posts = await self.store.shareable_posts_matching(word, before, RESULTS)
        else:
            posts = await self.store.shareable_posts_of(user_id, before, RESULTS)
        owners: dict[int, User | None] = {}
        results = []
        for post in posts:
            if post.user_id not in owners:
                owners[post.user_id] = await self.store.get_user(post.user_id)
            result = await self._result(post, owners[post.user_id], lang, word)
            if result is not None:
                results.append(result)
        next_offset = str(posts[-1].id) if len(posts) == RESULTS else ""
        button = None
        if not results and before is None and self.feed.bot_username:
            button = InlineQueryResultsButton(
                plain(lang, "inline_empty"), start_parameter=keyboards.MAKE_PAYLOAD
            )
        log.debug(
            "inline query user=%s search=%s results=%d", uid(user_id), bool(word), len(results)
        )
        return Shares(results, next_offset, button)

    async def _result(
        self, post: Post, owner: User | None, lang: str, word: str
    ) -> InlineQueryResult | None:
        """One post as a cached audio or video; None if it cannot be shown, or if the
        word it matched is model text the channel withholds (a blocked word)."""
        job = await self.store.get_job(post.job_id)
        track = await self.store.track(post.job_id, post.track_idx)
        if job is None or track is None or owner is None or post.file_id is None:
            return None
        said = self.feed.public.of(job, track)
        if word and (said is None or not _holds(word, said.genre, said.mood)):
            return None
        # kept short: the long description of the photo and the music stays in the channel;
        # the name only if the post went out with it and its owner still shows it
        short = replace(owner, describe=False, anonymous=owner.anonymous or not post.named)
        caption = self.feed.caption(
            job, track, short, limit=CAPTION_CHARS, post_id=post.id,
            description_chars=DESCRIPTION_CHARS,
        ).text  # fmt: skip
        markup = None
        if self.feed.bot_username:
            make = create_deep_linked_url(self.feed.bot_username, keyboards.MAKE_PAYLOAD)
            button = InlineKeyboardButton(plain(lang, "button_make_yours"), url=make)
            markup = InlineKeyboardMarkup([[button]])
        if post.file_kind == "video":
            return InlineQueryResultCachedVideo(
                str(post.id),
                post.file_id,
                self.feed.public.title(job, track),
                description=said.mood if said is not None else None,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        return InlineQueryResultCachedAudio(
            str(post.id), post.file_id, caption, markup, parse_mode=ParseMode.HTML
        )


def _holds(word: str, *values: str) -> bool:
    folded = word.casefold()
    return any(folded in value.casefold() for value in values)
