"""The Mini App's HTTP side: its pages, its JSON API and its media, under ``/app``.

Telegram opens ``IMMU_WEBAPP_URL`` (a reverse proxy forwards its path to ``/app/`` on
``IMMU_WEBAPP_HOST:IMMU_WEBAPP_PORT``, or on the webhook's server when the ports are the
same). The routes:

- ``GET /app/``, ``GET /app/static/{name}``: the pages, files of ``bot/web/pages/`` only
  (a name that is no file there is 404; nothing outside it is ever read), no-cache;
- ``/app/api/...``: JSON. Each call carries ``Authorization: tma <initData>``, checked
  with ``bot.web.initdata`` against the bot token and ``IMMU_WEBAPP_MAX_AGE_S``; without a
  valid one: 401 ``{"error": "unauthorized"}`` and a log line saying why (never the
  initData): for each reason at most one a minute, the next saying how many were held
  back, so a flood of forged calls cannot flood the log. Then at most ``IMMU_WEBAPP_RATE`` calls a minute per person (429). What the
  answers hold, and who may see it, is ``bot.gallery``'s;
- ``GET /app/media/{token}/audio.mp3`` and ``.../cover.jpg``: a public post's files by
  its token (no initData: an ``<audio>`` element sends none), with ranges; 404 the moment
  the post is not public. ``no-cache``: a client asks again before each play (a 304 by
  the file's ETag while the post is public), so a deleted post never plays from a cache.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.gallery import FEED_POSTS, Barred, Gallery, MediaKind, NotShown
from bot.ratelimit import RateLimit
from bot.settings import Settings
from bot.telegram.chat import Person
from bot.telegram.texts import LANGUAGES
from bot.web.initdata import MISMATCH, Unsigned, verify
from bot.web.server import WebServer
from storage import StoreError

log = logging.getLogger(__name__)

MOUNT = "/app"
PAGES = Path(__file__).resolve().parent / "pages"
_PAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
PAGE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
MEDIA_TYPES: dict[MediaKind, str] = {"audio": "audio/mpeg", "cover": "image/jpeg"}
MEDIA_CACHE = "no-cache"  # revalidated each time: a post deleted is gone at once
MAX_BODY = 4096  # a settings change is a few dozen bytes
REFUSALS_LOG_S = 60.0  # at most one "call refused" line this often for each reason
_ID = r"[0-9]{1,12}"
_JSON = partial(json.dumps, ensure_ascii=False)

Api = Callable[[web.Request, Person], Awaitable[dict[str, Any] | web.Response]]


class BadInput(Exception):
    """A query or body the API does not take (400)."""


def webapp_problem(settings: Settings) -> str | None:
    """Telegram opens Mini Apps over HTTPS only: said at start, in one line."""
    if not settings.webapp_url:
        return None
    url = urlsplit(settings.webapp_url)
    if url.scheme != "https" or not url.hostname:
        return "IMMU_WEBAPP_URL must be an https:// URL: Telegram opens Mini Apps only over HTTPS"
    return None


def webapp_server(settings: Settings, webhook: WebServer) -> WebServer | None:
    """The server the pages go on: none without IMMU_WEBAPP_URL; the webhook's when the
    webhook listens on the same port (one port cannot be bound twice); else their own."""
    if not settings.webapp_url:
        return None
    if settings.webhook_url and settings.webapp_port == settings.webhook_port:
        return webhook
    return WebServer(settings.webapp_host, settings.webapp_port)


class Refusals:
    """The log lines of unsigned calls: the first of each reason, then at most one every
    ``REFUSALS_LOG_S``; the calls in between are counted, and the next line says how many.

    Signed calls are counted too: when no call was signed since the last line about
    signatures that do not match (or since the start), every person is likely refused,
    not a forger, and that line is a WARNING that says so."""

    def __init__(self) -> None:
        self._logged: dict[str, tuple[float, int]] = {}  # reason -> (when, held back since)
        self._signed = 0  # calls signed since the last line about a mismatched signature

    def signed(self) -> None:
        self._signed += 1

    def refused(self, path: str, reason: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = re.sub(r"[0-9]+", "#", reason)  # "initData is 90000 s old": one reason, any age
        last = self._logged.get(key)
        if last is not None and now - last[0] < REFUSALS_LOG_S:
            self._logged[key] = (last[0], last[1] + 1)
            return
        self._logged[key] = (now, 0)
        held_back = last[1] if last is not None else 0
        if key == MISMATCH:
            signed, self._signed = self._signed, 0
            if not signed:
                log.warning(
                    "mini app call refused path=%s reason=%s suppressed=%d and no call signed "
                    "since: the Mini App is likely registered with another bot, or the bot "
                    "token changed (TELEGRAM_BOT_TOKEN); its pages then fail for everyone",
                    path, reason, held_back,
                )  # fmt: skip
                return
        log.info("mini app call refused path=%s reason=%s suppressed=%d", path, reason, held_back)


class MiniApp:
    """The routes; ``install`` puts them on a server before it listens."""

    def __init__(self, settings: Settings, gallery: Gallery) -> None:
        assert settings.telegram_bot_token is not None
        self._token = settings.telegram_bot_token.get_secret_value()
        self.max_age_s = settings.webapp_max_age_s
        self.gallery = gallery
        self.rate = RateLimit(settings.webapp_rate)
        self.refusals = Refusals()

    def install(self, server: WebServer) -> None:
        server.add_get(MOUNT, self._to_index)
        server.add_get(f"{MOUNT}/", self._index)
        server.add_get(f"{MOUNT}/static/{{name}}", self._static)
        server.add_get(f"{MOUNT}/api/me", self._api(self._me))
        server.add_get(f"{MOUNT}/api/feed", self._api(self._feed))
        server.add_get(f"{MOUNT}/api/top", self._api(self._top))
        server.add_get(f"{MOUNT}/api/profile/{{handle}}", self._api(self._profile))
        server.add_get(f"{MOUNT}/api/track/{{post_id:{_ID}}}", self._api(self._track))
        server.add_post(f"{MOUNT}/api/settings", self._api(self._settings))
        server.add_post(f"{MOUNT}/api/posts/{{post_id:{_ID}}}/delete", self._api(self._delete))
        server.add_get(f"{MOUNT}/media/{{token}}/audio.mp3", partial(self._media, kind="audio"))
        server.add_get(f"{MOUNT}/media/{{token}}/cover.jpg", partial(self._media, kind="cover"))

    # --- the API: who asks, how often, and the answer's status ---

    def _api(self, handler: Api) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            scheme, _, init_data = request.headers.get("Authorization", "").partition(" ")
            try:
                if scheme.lower() != "tma":
                    raise Unsigned("no tma Authorization header")
                signed = verify(init_data.strip(), self._token, self.max_age_s)
            except Unsigned as exc:
                self.refusals.refused(request.path, str(exc))
                return _json({"error": "unauthorized"}, 401, {"WWW-Authenticate": "tma"})
            self.refusals.signed()
            if not self.rate.allow(signed.user_id):
                return _json({"error": "too_many_requests"}, 429, {"Retry-After": "60"})
            who = Person(
                signed.user_id, signed.first_name, signed.language_code or None, signed.user_id
            )
            try:
                answer = await handler(request, who)
            except NotShown:
                return _json({"error": "not_found"}, 404)
            except Barred:
                return _json({"error": "forbidden"}, 403)
            except BadInput as exc:
                return _json({"error": "bad_request", "detail": str(exc)}, 400)
            except StoreError as exc:
                log.warning("mini app call failed path=%s reason=%s", request.path, exc)
                return _json({"error": "unavailable"}, 503)
            return answer if isinstance(answer, web.StreamResponse) else _json(answer)

        return handle

    async def _me(self, request: web.Request, who: Person) -> dict[str, Any]:
        return await self.gallery.me(who)

    async def _feed(self, request: web.Request, who: Person) -> dict[str, Any]:
        query = request.query
        return await self.gallery.feed_page(
            who,
            before=_number(query.get("before"), "before"),
            mood=_word(query.get("mood"), "mood"),
            genre=_word(query.get("genre"), "genre"),
            limit=_number(query.get("limit"), "limit") or FEED_POSTS,
        )

    async def _top(self, request: web.Request, who: Person) -> dict[str, Any]:
        return await self.gallery.top(who)

    async def _profile(self, request: web.Request, who: Person) -> dict[str, Any]:
        return await self.gallery.profile(who, request.match_info["handle"])

    async def _track(self, request: web.Request, who: Person) -> dict[str, Any]:
        return await self.gallery.track(who, int(request.match_info["post_id"]))

    async def _settings(self, request: web.Request, who: Person) -> dict[str, Any]:
        body = await _body(request)
        unknown = set(body) - {"anonymous", "describe", "language"}
        if unknown:
            raise BadInput(f"unknown settings: {', '.join(sorted(unknown))}")
        for key in ("anonymous", "describe"):
            if key in body and not isinstance(body[key], bool):
                raise BadInput(f"{key} must be true or false")
        if "language" in body and body["language"] not in LANGUAGES:
            raise BadInput(f"language must be one of {', '.join(LANGUAGES)}")
        return await self.gallery.change_settings(
            who, body.get("anonymous"), body.get("describe"), body.get("language")
        )

    async def _delete(self, request: web.Request, who: Person) -> dict[str, Any] | web.Response:
        post_id = int(request.match_info["post_id"])
        try:
            return await self.gallery.delete(who, post_id)
        except NotShown:  # someone else's, or deleted already: said in the person's words
            message = await self.gallery.gone_message(who)
            return _json({"ok": False, "error": "not_found", "message": message}, 404)

    # --- media and pages: no initData ---

    async def _media(self, request: web.Request, kind: MediaKind) -> web.StreamResponse:
        path = await self.gallery.media(request.match_info["token"], kind)
        if path is None:
            raise web.HTTPNotFound(headers={"Cache-Control": "no-store"})
        headers = {"Cache-Control": MEDIA_CACHE, "Content-Type": MEDIA_TYPES[kind]}
        return web.FileResponse(path, headers=headers)

    async def _to_index(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("app/")  # relative: right behind a proxy's own prefix too

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return _page("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        return _page(request.match_info["name"])


def _page(name: str) -> web.StreamResponse:
    """A file of bot/web/pages/ by its name: only a plain file listed in that folder."""
    if not _PAGE_NAME.fullmatch(name):
        raise web.HTTPNotFound()
    try:
        listed = name in os.listdir(PAGES)
    except OSError:
        listed = False
    path = PAGES / name
    if not listed or path.is_symlink() or not path.is_file():
        raise web.HTTPNotFound()
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if kind := PAGE_TYPES.get(path.suffix.lower()):
        headers["Content-Type"] = kind
    return web.FileResponse(path, headers=headers)


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    response = web.json_response(body, status=status, headers=headers, dumps=_JSON)
    response.headers["Cache-Control"] = "no-store"  # each person's own view
    return response


def _number(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not re.fullmatch(_ID, value):
        raise BadInput(f"{name} must be a number")
    return int(value)


def _word(value: str | None, name: str) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > 100:
        raise BadInput(f"{name} is too long")
    return value.strip()


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadInput("body too large")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadInput("body too large")
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise BadInput("body is not JSON") from exc
    if not isinstance(body, dict):
        raise BadInput("body must be a JSON object")
    return body
