"""The feed, profiles and tracks as the Mini App's pages show them: plain JSON-ready dicts.

What the pages may show is what the channel shows, and no more:

- only public posts (posted, their owner not banned; a forgotten person's are gone);
- a remix only while its original is public (its cover is a copy of the original's photo);
- every model-written value passes ``PublicText`` as the channel caption's does (a
  blocked word: description, genre and mood all "", and the post matches no mood or genre
  filter, nor are its words offered as one); the caption model's words about the photo
  only where the post went out with them and its owner still has "describe" on;
- a name only on a post that went out with it, while its person still shows it
  (``anonymous`` off), and someone else's profile only then, listing only such posts;
  settings only to their person;
- no Telegram id: a person is a handle, a keyed hash of their id (``Gallery.handle``);
- a banned person sees nothing of others' posts (``Barred``), not even remixes of theirs
  on their own profile;
- a track's audio and cover by a token, an HMAC of the post id under the install's key,
  checked with the post's publicity on every request: it stops working the moment the
  post is not public.

Deleting and settings go through the chat's own ``Posting`` and ``Account``: the same
exactly-once rules, the same words.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from telegram.helpers import create_deep_linked_url

from bot.account import PROFILE_POSTS, TOP_POSTS, TOP_WINDOW, Account
from bot.feed import Feed
from bot.files import FileStore
from bot.posting import Posting
from bot.pseudonym import Pseudonyms, uid
from bot.public_text import PublicText
from bot.settings import Settings
from bot.telegram import keyboards
from bot.telegram.chat import Chat, Person
from bot.telegram.texts import LANGUAGES, language_of, text
from pipeline.model_text import unlinked
from storage import PublicPost, Store, User

log = logging.getLogger(__name__)

FEED_POSTS = 12  # a page of the feed, unless the page asks for another number
FEED_MAX = 30
FILTERS_S = 60.0  # how long the filter lists are kept: each is a scan of every public post
FILTERS = 12  # moods and genres offered as filters
REMIXES = 30  # remixes listed on a profile or a track's page
MEDIA = "media"  # the tokens' purpose (bot.pseudonym: Pseudonyms.token)
PROFILE = "profile"  # the handles' purpose
HANDLE_CHARS = 16  # 64 bits: a profile's address, never guessed from a Telegram id
MediaKind = Literal["audio", "cover"]
_TOKEN = re.compile(r"([0-9]{1,12})-([0-9a-f]{32})")
_HANDLE = re.compile(f"[0-9a-f]{{{HANDLE_CHARS}}}")
# as the channel caption cuts them (bot/feed.py)
DESCRIPTION_CHARS = 300
WORD_CHARS = 60
NAME_CHARS = 64


class NotShown(Exception):
    """Nothing public by that id for this person (404)."""


class Barred(Exception):
    """A banned person asked for others' posts (403)."""


class Gallery:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        files: FileStore,
        feed: Feed,
        chat: Chat,
        account: Account,
        posting: Posting,
        pseudonyms: Pseudonyms,
    ) -> None:
        self.settings = settings
        self.store = store
        self.files = files
        self.feed = feed
        self.chat = chat
        self.account = account
        self.posting = posting
        self._filters: tuple[float, dict[str, list[str]]] | None = None  # (when made, the lists)
        self._filters_lock = asyncio.Lock()  # one making of the lists at a time
        self.pseudonyms = pseudonyms
        self.public = PublicText(settings)
        self.base = settings.webapp_url.rstrip("/")
        self._settings_lock = asyncio.Lock()  # settings are set through toggles
        # handle -> Telegram id of everyone who shows their name: read from the store once,
        # when first needed, then kept by what ``account`` tells of names going on and off
        self._named: dict[str, int] | None = None
        self._named_lock = asyncio.Lock()
        self._named_meanwhile: list[tuple[int, bool]] | None = None  # told while reading
        account.names_told.append(self._name_told)

    # --- what the pages ask ---

    async def me(self, who: Person) -> dict[str, Any]:
        user = await self.store.get_user(who.id)  # None: never used the bot; nothing stored
        return {
            "user": {
                "handle": self.handle(who.id),
                "first_name": who.first_name,
                **self._settings(who, user),
            },
            "bot_username": self.feed.bot_username or "",
            "channel_url": f"https://t.me/{self.feed.username}" if self.feed.username else None,
            "make_url": self._deep_link(keyboards.MAKE_PAYLOAD),
        }

    async def feed_page(
        self,
        who: Person,
        before: int | None = None,
        mood: str | None = None,
        genre: str | None = None,
        limit: int = FEED_POSTS,
    ) -> dict[str, Any]:
        await self._not_banned(who)
        limit = max(1, min(limit, FEED_MAX))
        found = await self.store.public_posts(limit + 1, before, mood or None, genre or None)
        page = found[:limit]
        answer: dict[str, Any] = {
            "posts": [self._post(item, who) for item in page],
            "next_before": page[-1].post.id if len(found) > limit else None,
        }
        if before is None:  # the filter lists come with the first page; the pages keep them
            answer.update(await self._filter_lists())
        return answer

    async def top(self, who: Person) -> dict[str, Any]:
        """The week's most liked, as /top."""
        await self._not_banned(who)
        found = await self.store.public_top(datetime.now(UTC) - TOP_WINDOW, TOP_POSTS)
        return {"posts": [self._post(item, who) for item in found]}

    async def profile(self, who: Person, handle: str) -> dict[str, Any]:
        """Someone's public posts, likes and remixes, by their handle. Someone else's
        exists only while they show their name, and lists only what went out with it; the
        person's own always, with their settings (a banned person's: nothing of others)."""
        user_id = await self._person(who, handle)
        own = user_id == who.id
        user = await self.store.get_user(user_id)
        if not own:
            await self._not_banned(who)
            if user is None or user.anonymous:  # forgotten, or no longer shows the name
                self._name_told(user_id, False)
                raise NotShown
            if await self.store.is_banned(user_id):
                raise NotShown
        named = not own  # others see only the posts that carry the name
        others = not (own and await self.store.is_banned(who.id))
        posts = await self.store.public_posts_of(user_id, PROFILE_POSTS, named)
        remixed = await self.store.public_remixes_of_user(user_id, REMIXES, named) if others else []
        answer: dict[str, Any] = {
            "user": {"handle": self.handle(user_id), "name": _name(user)},
            "own": own,
            "posts": [self._post(item, who) for item in posts],
            "likes": await self.store.public_likes_of(user_id, named),
            "remixes": [
                self._post(item, who)
                for item in await self.store.public_remixes_by(user_id, REMIXES, named)
            ],
            "remixed": [self._post(item, who) for item in remixed],
        }
        if own:
            answer["settings"] = self._settings(who, user)
        return answer

    async def track(self, who: Person, post_id: int) -> dict[str, Any]:
        item = await self.store.public_post(post_id)
        if item is None:
            raise NotShown
        if item.post.user_id != who.id:
            await self._not_banned(who)
        original = item.job.remix_post_id
        remix_of = await self.store.public_post(original) if original is not None else None
        return {
            "post": self._post(item, who),
            "remix_url": self._deep_link(keyboards.remix_payload(post_id)),
            "make_url": self._deep_link(keyboards.MAKE_PAYLOAD),
            "remix_of": self._post(remix_of, who) if remix_of is not None else None,
            "remixes": [
                self._post(remix, who)
                for remix in await self.store.public_remixes_of(post_id, REMIXES)
            ],
        }

    async def change_settings(
        self,
        who: Person,
        anonymous: bool | None = None,
        describe: bool | None = None,
        language: str | None = None,
    ) -> dict[str, Any]:
        """Set what is given, through the chat's own settings (its toggles, its language
        choice), so the chat and the pages never disagree."""
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"no language {language!r}")
        async with self._settings_lock:
            await self.chat.meet(who)  # the person's row, as the chat keeps it
            user = await self.store.get_user(who.id)
            assert user is not None
            if anonymous is not None and anonymous != user.anonymous:
                await self.account.toggle_anonymous(who)
            if describe is not None and describe != user.describe:
                await self.account.toggle_describe(who)
            if language is not None and language != user.language:
                await self.account.switch_language(who, language)
            user = await self.store.get_user(who.id)
        return {"settings": self._settings(who, user)}

    async def delete(self, who: Person, post_id: int) -> dict[str, Any]:
        """Delete one of the person's posts through the chat's own delete (the channel
        post goes exactly once). Someone else's, or one already gone: ``NotShown``."""
        post = await self.store.get_post(post_id)
        if post is None or post.user_id != who.id:
            if post is not None:
                log.warning("foreign delete refused post=%d user=%s", post_id, uid(who.id))
            raise NotShown
        answer = await self.posting.delete(who, post_id)
        gone = await self.store.get_post(post_id) is None
        return {"ok": gone, "message": answer.text}

    async def gone_message(self, who: Person) -> str:
        """What a delete of a post that is not there (any more) says."""
        user = await self.store.get_user(who.id)
        return text(language_of(who.language_code, user.language if user else None), "report_gone")

    # --- handles ---

    def handle(self, user_id: int) -> str:
        """The person as the pages name them: a keyed hash of their Telegram id."""
        return self.pseudonyms.token(PROFILE, user_id)[:HANDLE_CHARS]

    async def _person(self, who: Person, handle: str) -> int:
        """The Telegram id a handle stands for: the asking person's own, or someone who
        shows their name (no one else's profile is there to open); else ``NotShown``.
        Someone else's is as the handles were last told: the caller checks the store."""
        if not _HANDLE.fullmatch(handle):
            raise NotShown
        if hmac.compare_digest(handle, self.handle(who.id)):
            return who.id
        user_id = (await self._named_handles()).get(handle)
        if user_id is None:
            raise NotShown
        return user_id

    async def _named_handles(self) -> dict[str, int]:
        """The handles of everyone who shows their name: one read of the store, the first
        time; after that, kept by ``_name_told``."""
        if self._named is not None:
            return self._named
        async with self._named_lock:
            if self._named is None:
                self._named_meanwhile = []
                try:
                    ids = await self.store.people_showing_names()
                    named = await asyncio.to_thread(lambda: {self.handle(i): i for i in ids})
                    for user_id, shown in self._named_meanwhile:  # told while it was read
                        self._keep(named, user_id, shown)
                finally:
                    self._named_meanwhile = None
                self._named = named
        return self._named

    def _name_told(self, user_id: int, shown: bool) -> None:
        """A person's name went on (``shown``) or off, or they are gone (off)."""
        if self._named_meanwhile is not None:
            self._named_meanwhile.append((user_id, shown))
        if self._named is not None:
            self._keep(self._named, user_id, shown)

    def _keep(self, named: dict[str, int], user_id: int, shown: bool) -> None:
        if shown:
            named[self.handle(user_id)] = user_id
        else:
            named.pop(self.handle(user_id), None)

    # --- media ---

    def media_token(self, post_id: int) -> str:
        return f"{post_id}-{self.pseudonyms.token(MEDIA, post_id)}"

    async def media(self, token: str, kind: MediaKind) -> Path | None:
        """The file a media token names, while its post is public; else None."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        post_id = int(match.group(1))
        if not hmac.compare_digest(self.pseudonyms.token(MEDIA, post_id), match.group(2)):
            return None
        item = await self.store.public_post(post_id)
        if item is None:
            return None
        stored = item.track.mp3_path if kind == "audio" else item.job.cover_path
        if stored is None:  # a remix whose original went has no cover
            return None
        path = self.files.path(stored)
        return path if path.is_file() else None

    # --- shapes ---

    def _post(self, item: PublicPost, who: Person) -> dict[str, Any]:
        post, job, track, owner = item.post, item.job, item.track, item.owner
        said = self.public.of(job, track)  # None: a blocked word, so no model text at all
        token = self.media_token(post.id)
        return {
            "id": post.id,
            "genre": _cut(said.genre, WORD_CHARS) if said else "",
            "mood": _cut(said.mood, WORD_CHARS) if said else "",
            "description": _cut(said.description, DESCRIPTION_CHARS) if said else "",
            "photo": (
                _cut(said.photo, DESCRIPTION_CHARS)
                if said and post.described and owner.describe
                else ""
            ),
            "likes": post.likes,
            "created_at": post.created_at,
            "duration_s": track.duration_s,
            "channel_url": (
                self.feed.url(post.channel_message_id) if post.channel_message_id else None
            ),
            "app_url": self.feed.app_url(post.id),
            "audio_url": f"{self.base}/media/{token}/audio.mp3",
            "cover_url": f"{self.base}/media/{token}/cover.jpg",
            "author": (
                {"handle": self.handle(owner.id), "name": name}
                if post.named and (name := _name(owner))
                else None
            ),
            "remix_of": job.remix_post_id,  # public: a remix of another is listed only then
            "own": post.user_id == who.id,
        }

    def _settings(self, who: Person, user: User | None) -> dict[str, Any]:
        return {
            "anonymous": user.anonymous if user else True,
            "describe": user.describe if user else True,
            "language": language_of(who.language_code, user.language if user else None),
        }

    def _offered(self, values: list[str]) -> list[str]:
        """Moods or genres as filters: only values shown as they are stored (a filter
        matches the stored value), none with a blocked word."""
        return [v for v in values if self.public.word(v) == v and len(v) <= WORD_CHARS][:FILTERS]

    async def _filter_lists(self) -> dict[str, list[str]]:
        """The moods and genres offered as filters, made again at most every ``FILTERS_S``;
        one making at a time: who asks meanwhile gets what it makes."""
        loop = asyncio.get_running_loop()
        asked = loop.time()
        async with self._filters_lock:
            made = self._filters
            if made is None or (made[0] < asked and loop.time() - made[0] >= FILTERS_S):
                lists = {
                    "moods": self._offered(await self.store.common_moods(FILTERS * 2)),
                    "genres": self._offered(await self.store.common_genres(FILTERS * 2)),
                }
                self._filters = made = (loop.time(), lists)
        return made[1]

    def _deep_link(self, payload: str) -> str:
        """A link into the private chat (``/start <payload>``); "" before getMe answered."""
        if not self.feed.bot_username:
            return ""
        return create_deep_linked_url(self.feed.bot_username, payload)

    async def _not_banned(self, who: Person) -> None:
        if await self.store.is_banned(who.id):
            raise Barred


def _name(user: User | None) -> str | None:
    """The name a person shows: only with ``anonymous`` off (a name can be a link)."""
    if user is None or user.anonymous:
        return None
    return _cut(unlinked(user.first_name), NAME_CHARS) or None


def _cut(value: str, limit: int) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"
