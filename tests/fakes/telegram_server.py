"""A fake Telegram Bot API server on loopback, for the real python-telegram-bot client.

It speaks the Bot API's HTTP protocol (``/bot<token>/<method>``, form or multipart
parameters, ``{"ok": ..., "result": ...}`` answers, ``/file/bot<token>/<path>``
downloads) and honours its rules that matter to IMMU:

- ``getUpdates`` long-polls, confirms updates by ``offset``, and remembers
  ``allowed_updates``; like Telegram, ``message_reaction_count`` updates reach only a
  bot that listed them, and only when it is an administrator of the channel.
- After ``setWebhook`` updates are POSTed to the bot's URL instead, in order, with
  ``X-Telegram-Bot-Api-Secret-Token``, again until it answers 200; ``getUpdates``
  then answers 409 Conflict, as Telegram does, until ``deleteWebhook``. Like Telegram
  it takes only an ``https://`` URL; ``reverse_proxy`` plays the server in front of the
  bot that terminates HTTPS and forwards to the bot's plain-HTTP port.
- Only messages that exist can be edited or deleted ("message to edit not found").
- Inline mode: ``send_inline_query`` plays a person typing the bot's name in a chat;
  ``answerInlineQuery`` checks the results as Telegram does (a cached audio needs its
  ``audio_file_id``, a cached video its ``video_file_id`` and a ``title``, each a file
  Telegram holds) and takes one answer per query, in time. A ``web_app`` button works
  only in a private chat; the menu button (``setChatMenuButton``) is kept per chat.
- Scripted faults: 429 with ``retry_after``, 5xx, "bot was blocked by the user",
  "not enough rights" and so on, per method; ``hold`` keeps a call unanswered until
  the test releases it (then carries it out, as Telegram would after a lost answer).

Every call is recorded in ``calls`` so tests read what users would have seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
from aiohttp import web

from tests.fakes.loopback import LoopbackServer

BOT_ID = 7_000_000
CHANNEL_ID = -1_001_234_567_890
CHANNEL_USERNAME = "immu_feed"
DEFAULT_ALLOWED = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_join_request",
}  # Telegram's default: no chat_member, message_reaction, message_reaction_count
STRING_FIELDS = {
    "text", "caption", "title", "performer", "parse_mode", "callback_query_id", "url",
    "file_id", "description", "short_description", "name", "inline_query_id", "next_offset",
}  # fmt: skip
WEBHOOK_IDLE_S = 0.5  # how often an idle webhook loop looks whether it was deleted
WEBHOOK_RETRY_S = 0.1
FILE_FIELDS = {"photo", "audio", "video", "document", "thumbnail", "voice", "animation"}
# Telegram does not document how long an inline query waits for its answer; bots that
# answer after about 10 s meet "query is too old"
INLINE_ANSWER_S = 10.0
INLINE_RESULTS = 50
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_token: str | None
    allowed_updates: list[str] | None


@dataclass
class CallHold:
    """One call kept waiting: ``arrived`` once it came in, carried out after ``release``."""

    method: str
    match: Callable[[dict[str, Any]], bool] | None
    loop: asyncio.AbstractEventLoop
    arrived: bool = False
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self._released.set)


@dataclass
class Fault:
    status: int
    description: str
    retry_after: int | None = None
    times: int = 1
    match: Callable[[dict[str, Any]], bool] | None = None
    delay_s: float = 0.0  # status 0: answer normally, but only after delay_s (a timeout)
    after: bool = False  # carried out first, then answered with the status (-1: dropped)


@dataclass
class Chaos:
    """Telegram's everyday faults at random, from a seed: rate limits, 502s (nginx's
    HTML page or the Bot API's JSON) and uploads answered late though carried out."""

    seed: int
    rate_limited: float = 0.05
    bad_gateway: float = 0.03
    late_upload: float = 0.02
    late_s: float = 7.0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import random

        self._random = random.Random(self.seed)

    def draw(self, method: str) -> str | None:
        if method in ("getUpdates", "getMe", "getChat", "getChatMember", "deleteWebhook"):
            roll = self._random.random()  # polling meets 502s too, never rate limits
            return self._count("502-json") if roll < self.bad_gateway else None
        roll = self._random.random()
        if roll < self.rate_limited:
            return self._count("429")
        roll -= self.rate_limited
        if roll < self.bad_gateway:
            return self._count("502-html" if self._random.random() < 0.5 else "502-json")
        roll -= self.bad_gateway
        if method in UPLOADS and roll < self.late_upload:
            return self._count("late")
        return None

    def _count(self, kind: str) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return kind


UPLOADS = ("sendAudio", "sendVideo", "sendPhoto", "sendDocument")
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class FakeTelegram:
    """The server, plus helpers that play the people on the other side."""

    def __init__(self, token: str = "123456:TEST-token_SECRET-abcdefghijklmnopqrstu") -> None:
        self.token = token
        self.me: dict[str, Any] | None = None  # getMe's answer, when a test needs another
        self.malformed: dict[str, int] = {}  # method -> answers left that are ok but broken
        self._chaos: Chaos | None = None
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.allowed_updates = set(DEFAULT_ALLOWED)
        self.confirmed = 0
        self.files: dict[str, tuple[bytes, str]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.holds: list[CallHold] = []
        self.bot_is_channel_admin = True
        self.channel_exists = True
        self.groups: dict[int, str] = {}  # group chats the bot is in: id -> title
        self.inline_mode = True  # @BotFather's /setinline: else no inline query reaches the bot
        self.inline_queries: dict[str, float] = {}  # id -> when it was sent, until answered
        self.inline_answers: dict[str, dict[str, Any]] = {}  # id -> the answer Telegram took
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}  # chat (None: default) -> button
        self._ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._lock = threading.Lock()
        self._new_update: asyncio.Condition | None = None
        self._poll_round = 0  # a new round ends every waiting long poll early
        self.webhook: Webhook | None = None  # set by setWebhook: updates are POSTed to it
        self.reverse_proxy: dict[str, str] = {}  # public https URL -> the bot's own URL
        # getWebhookInfo's last_error_date and last_error_message: the last failed POST
        self.webhook_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.*}", self._download)
        self.server = LoopbackServer(app)

    # --- running ---

    def start(self) -> FakeTelegram:
        self.server.start()
        self._new_update = self.server.call(self._make_condition())
        return self

    @staticmethod
    async def _make_condition() -> asyncio.Condition:
        return asyncio.Condition()

    def stop(self) -> None:
        self.server.call(self._m_deleteWebhook({}, {}))
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    # --- what the people do ---

    def user(self, user_id: int, first_name: str = "Ann", language: str = "en") -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language,
        }

    def group(self, chat_id: int = -1001234, title: str = "Friends") -> dict[str, Any]:
        return {"id": chat_id, "type": "supergroup", "title": title}

    def send_text(
        self, user: dict[str, Any], text: str, *, chat: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        message = self._incoming(user, {"text": text}, chat)
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self._push({"message": message})
        return message

    def send_photo(
        self,
        user: dict[str, Any],
        data: bytes,
        *,
        size: int | None = None,
        chat: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        file_id = self.add_file(data, "photos/file.jpg")
        sizes = [
            {"file_id": file_id + "-s", "file_unique_id": "u" + file_id + "s", "width": 90,
             "height": 60, "file_size": 1000},
            {"file_id": file_id, "file_unique_id": "u" + file_id, "width": 1280, "height": 853,
             "file_size": size if size is not None else len(data)},
        ]  # fmt: skip
        self.files[file_id + "-s"] = (data, f"photos/{file_id}-small.jpg")
        message = self._incoming(user, {"photo": sizes}, chat)
        self._push({"message": message})
        return message

    def send_document(
        self,
        user: dict[str, Any],
        data: bytes,
        *,
        file_name: str,
        mime_type: str | None,
        size: int | None = None,
    ) -> dict[str, Any]:
        file_id = self.add_file(data, f"documents/{file_name}")
        document: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "file_name": file_name,
            "file_size": size if size is not None else len(data),
        }
        if mime_type:
            document["mime_type"] = mime_type
        message = self._incoming(user, {"document": document})
        self._push({"message": message})
        return message

    def send_other(self, user: dict[str, Any], kind: str) -> dict[str, Any]:
        """A sticker, voice note, location ... anything that is not a photo or text."""
        payloads: dict[str, dict[str, Any]] = {
            "sticker": {"sticker": {"file_id": "st", "file_unique_id": "ust", "type": "regular",
                                    "width": 512, "height": 512, "is_animated": False,
                                    "is_video": False}},
            "voice": {"voice": {"file_id": "vo", "file_unique_id": "uvo", "duration": 2}},
            "location": {"location": {"latitude": 37.5, "longitude": 127.0}},
        }  # fmt: skip
        message = self._incoming(user, payloads[kind])
        self._push({"message": message})
        return message

    def tap(self, user: dict[str, Any], message: dict[str, Any], data: str) -> str:
        query_id = str(next(self._ids))
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "chat_instance": "ci",
                    "message": message,
                    "data": data,
                }
            }
        )
        return query_id

    def send_inline_query(
        self, user: dict[str, Any], query: str = "", offset: str = "", *, age_s: float = 0.0
    ) -> str:
        """The person types the bot's name (and ``query``) in a chat's text box; ``offset``
        is what the bot's last answer gave as ``next_offset`` (the next page). ``age_s``:
        the query was sent that long ago (its update waited). Returns the query id."""
        assert self.inline_mode, "Telegram sends inline queries only to bots in inline mode"
        query_id = str(next(self._ids))
        with self._lock:
            self.inline_queries[query_id] = time.monotonic() - age_s
        self._push(
            {
                "inline_query": {
                    "id": query_id,
                    "from": user,
                    "query": query,
                    "offset": offset,
                    "chat_type": "sender",
                }
            }
        )
        return query_id

    def forward(self, user: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        """The person forwards a message (a channel post) to the bot. The copy names its
        origin (the channel and the post's message id) and keeps the media and the caption
        with its links; the keyboard only when all its buttons are links."""
        content: dict[str, Any] = {
            key: message[key]
            for key in ("audio", "video", "caption", "caption_entities", "photo")
            if key in message
        }
        chat = message["chat"]
        origin_type = "channel" if chat["type"] == "channel" else "user"
        origin: dict[str, Any] = {"type": origin_type, "date": message["date"]}
        if origin_type == "channel":
            origin.update({"chat": chat, "message_id": message["message_id"]})
        else:
            origin["sender_user"] = message.get("from", user)
        content["forward_origin"] = origin
        # Telegram keeps a keyboard on a forward only if every button is a link
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        if rows and all("url" in button for row in rows for button in row):
            content["reply_markup"] = {"inline_keyboard": rows}
        forwarded = self._incoming(user, content)
        self._push({"message": forwarded})
        return forwarded

    def delete_by_user(self, chat_id: int, message_id: int) -> None:
        """The person deletes a message in their chat (Telegram tells the bot nothing)."""
        with self._lock:
            self.messages.pop((chat_id, message_id), None)

    def react(self, channel_message_id: int, counts: dict[str, int]) -> None:
        """Readers react to a channel post: Telegram sends the new totals, anonymously."""
        update = {
            "message_reaction_count": {
                "chat": self._channel_chat(),
                "message_id": channel_message_id,
                "date": int(time.time()),
                "reactions": [
                    {"type": {"type": "emoji", "emoji": emoji}, "total_count": n}
                    for emoji, n in counts.items()
                ],
            }
        }
        self._push(update)

    def end_long_polls(self) -> None:
        """Waiting ``getUpdates`` calls answer now, empty if nothing is new (Telegram may
        end a long poll early): a bot that is stopping need not wait out its poll timeout."""

        async def wake() -> None:
            assert self._new_update is not None
            async with self._new_update:
                self._poll_round += 1
                self._new_update.notify_all()

        self.server.call(wake())

    # --- scripted faults ---

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        with self._lock:
            self.faults.setdefault(method, []).append(
                Fault(status, description, retry_after, times, match)
            )

    def slow(
        self,
        method: str,
        delay_s: float,
        *,
        times: int = 1,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """The next call(s) are carried out, but answered only after ``delay_s``: like a
        network timeout, the client cannot know whether Telegram did it."""
        with self._lock:
            self.faults.setdefault(method, []).append(Fault(0, "", None, times, match, delay_s))

    def lose_answer(
        self,
        method: str,
        status: int = 502,
        *,
        times: int = 1,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """The next call(s) are carried out, then the answer is lost: a ``status`` error
        (a proxy's 502) or, with ``status=-1``, the connection dropped unanswered."""
        with self._lock:
            self.faults.setdefault(method, []).append(
                Fault(status, "Bad Gateway", None, times, match, after=True)
            )

    def chaos(
        self,
        seed: int,
        rate_limited: float = Chaos.rate_limited,
        bad_gateway: float = Chaos.bad_gateway,
        late_upload: float = Chaos.late_upload,
        late_s: float = Chaos.late_s,
    ) -> Chaos:
        """From now on, answer calls with Telegram's everyday faults at random."""
        self._chaos = Chaos(seed, rate_limited, bad_gateway, late_upload, late_s)
        return self._chaos

    def break_answers(self, method: str, times: int = 1) -> None:
        """The next call(s) are carried out and answered ``ok`` with a result that is not
        what the Bot API promises (a message without its chat and date)."""
        with self._lock:
            self.malformed[method] = self.malformed.get(method, 0) + times

    def hold(
        self, method: str, *, match: Callable[[dict[str, Any]], bool] | None = None
    ) -> CallHold:
        """The next matching call is recorded, then waits unanswered until released."""
        held = CallHold(method, match, self.server.loop)
        with self._lock:
            self.holds.append(held)
        return held

    # --- reading what happened ---

    def calls_to(self, method: str, **where: Any) -> list[Call]:
        with self._lock:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if c.method == method and all(str(c.params.get(k)) == str(v) for k, v in where.items())
        ]

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 120, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        self._timed_out(what)

    async def until(
        self, predicate: Callable[[], Any], timeout: float = 60, what: str = "condition"
    ) -> Any:
        """``wait_for`` for async tests: polls without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                self._timed_out(what)
            await asyncio.sleep(0.01)

    def _timed_out(self, what: str) -> NoReturn:
        Path(tempfile.gettempdir(), "immu-fake-telegram-transcript.txt").write_text(
            self.transcript()
        )
        raise AssertionError(f"timed out waiting for {what}; calls: {self.transcript()[-3000:]}")

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [m for (c, _), m in sorted(self.messages.items()) if c == chat_id]

    def transcript(self) -> str:
        lines = []
        with self._lock:
            calls = list(self.calls)
        for call in calls:
            if call.method == "getUpdates":
                continue
            shown = {
                k: (v if len(str(v)) < 120 else str(v)[:117] + "...")
                for k, v in call.params.items()
            }
            files = {k: f"<{len(v)} bytes>" for k, v in call.files.items()}
            lines.append(f"{call.method} {json.dumps({**shown, **files}, ensure_ascii=False)}")
        return "\n".join(lines)

    # --- internals: the state ---

    def add_file(self, data: bytes, path: str) -> str:
        file_id = f"file{next(self._ids)}"
        folder, _, name = path.rpartition("/")
        self.files[file_id] = (data, f"{folder}/{file_id}-{name}")  # unique, like Telegram's
        return file_id

    def _incoming(
        self, user: dict[str, Any], content: dict[str, Any], chat: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        chat = chat or {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        message = {
            "message_id": self._next_message_id(user["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            **content,
        }
        with self._lock:
            self.messages[(chat["id"], message["message_id"])] = message
        return message

    def _next_message_id(self, chat_id: int) -> int:
        with self._lock:
            counter = self._message_ids.setdefault(chat_id, itertools.count(1))
            return next(counter)

    def _push(self, update: dict[str, Any]) -> None:
        async def push() -> None:
            assert self._new_update is not None
            async with self._new_update:
                update["update_id"] = len(self.updates) + 1
                self.updates.append(update)
                self._new_update.notify_all()

        self.server.call(push())

    def _channel_chat(self) -> dict[str, Any]:
        return {
            "id": CHANNEL_ID,
            "type": "channel",
            "title": "IMMU feed",
            "username": CHANNEL_USERNAME,
        }

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "IMMU",
            "username": "immu_test_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": self.inline_mode,
        }

    def _resolve_chat(self, chat_id: Any) -> dict[str, Any] | None:
        text = str(chat_id)
        if text in (f"@{CHANNEL_USERNAME}", str(CHANNEL_ID)):
            return self._channel_chat() if self.channel_exists else None
        if text.lstrip("-").isdigit() and int(text) > 0:
            return {"id": int(text), "type": "private", "first_name": "User"}
        if text.lstrip("-").isdigit() and int(text) in self.groups:
            return {"id": int(text), "type": "supergroup", "title": self.groups[int(text)]}
        if text.lstrip("-").isdigit():  # any other negative id: a group the bot is in
            return self.group(int(text))
        return None

    # --- internals: the HTTP side ---

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        with self._lock:
            self.calls.append(Call(method, params, files))
            fault = self._take_fault(method, params)
            held = self._take_hold(method, params)
            broken = self.malformed.get(method, 0) > 0
            if broken:
                self.malformed[method] -= 1
            drawn = self._chaos.draw(method) if self._chaos and fault is None else None
        if drawn == "429":
            return _error(429, "Too Many Requests: retry after 1", parameters={"retry_after": 1})
        if drawn == "502-html":
            return web.Response(status=502, text=NGINX_502, content_type="text/html")
        if drawn == "502-json":
            return _error(502, "Bad Gateway")
        if drawn == "late" and self._chaos is not None:
            fault = Fault(0, "", None, 1, None, self._chaos.late_s)
        if held is not None:
            await held._released.wait()
        late_s = 0.0
        if fault is not None and fault.status == 0:  # carried out now, answered late
            late_s, fault = fault.delay_s, None
        if fault is not None and fault.after:
            handler = getattr(self, f"_m_{method}")
            await handler(params, files)  # Telegram did it; the answer never arrives
            if fault.status == -1:
                assert request.transport is not None
                request.transport.close()
                raise ConnectionResetError("dropped after carrying out the call")
        if fault is not None:
            extra = {"parameters": {"retry_after": fault.retry_after}} if fault.retry_after else {}
            return _error(fault.status, fault.description, **extra)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params, files)
        except _ApiError as exc:
            return _error(exc.status, exc.description)
        await asyncio.sleep(late_s)
        if broken:  # carried out, but the answer is not a Message
            return web.json_response({"ok": True, "result": {"message_id": 0}})
        return web.json_response({"ok": True, "result": result})

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self.faults.get(method, []):
            if fault.times > 0 and (fault.match is None or fault.match(params)):
                fault.times -= 1
                return fault
        return None

    def _take_hold(self, method: str, params: dict[str, Any]) -> CallHold | None:
        for held in self.holds:
            if held.method != method or held.arrived:
                continue
            if held.match is None or held.match(params):
                held.arrived = True
                return held
        return None

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for data, file_path in self.files.values():
            if file_path == path:
                return web.Response(body=data)
        return web.Response(status=404)

    # --- Bot API methods ---

    async def _m_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self.me if self.me is not None else self._bot_user()

    async def _m_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """From now on updates are POSTed to ``url`` with the secret in a header."""
        url = str(params.get("url") or "")
        if not url:
            return await self._m_deleteWebhook(params, files)
        if not url.startswith("https://"):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided "
                            "for webhook")  # fmt: skip
        if params.get("allowed_updates") is not None:
            self.allowed_updates = set(params["allowed_updates"]) or set(DEFAULT_ALLOWED)
        if params.get("drop_pending_updates"):
            self.confirmed = len(self.updates)
        self.webhook = Webhook(url, params.get("secret_token"), params.get("allowed_updates"))
        self._webhook_task = asyncio.create_task(self._post_updates(self.webhook))
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if params.get("drop_pending_updates"):
            self.confirmed = len(self.updates)
        self.webhook = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        return True

    async def _post_updates(self, hook: Webhook) -> None:
        """Telegram's side of a webhook: each pending update POSTed in order, again until
        the bot answers 200 (it may not be listening yet, or be restarting)."""
        assert self._new_update is not None
        headers = (
            {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} if hook.secret_token else {}
        )
        async with aiohttp.ClientSession() as session:
            while self.webhook is hook:
                async with self._new_update:
                    ready = [u for u in self.updates
                             if u["update_id"] > self.confirmed and self._deliverable(u)]  # fmt: skip
                    if not ready:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._new_update.wait(), WEBHOOK_IDLE_S)
                        continue
                target = self.reverse_proxy.get(hook.url, hook.url)
                try:
                    async with session.post(target, json=ready[0], headers=headers) as answer:
                        delivered = answer.status == 200
                        error = f"Wrong response from the webhook: {answer.status} {answer.reason}"
                except aiohttp.ClientError:
                    delivered, error = False, "Connection refused"
                if not delivered:
                    self.webhook_error = (int(time.time()), error)
                if delivered:
                    self.confirmed = max(self.confirmed, ready[0]["update_id"])
                else:
                    await asyncio.sleep(WEBHOOK_RETRY_S)

    async def _m_getWebhookInfo(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        pending = [u for u in self.updates if u["update_id"] > self.confirmed]
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len([u for u in pending if self._deliverable(u)]),
        }
        if self.webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_error
        return info

    async def _m_setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _m_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if self.webhook is not None:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                            "active; use deleteWebhook to delete the webhook first")  # fmt: skip
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        if "allowed_updates" in params and params["allowed_updates"] is not None:
            allowed = set(params["allowed_updates"])
            self.allowed_updates = allowed or set(DEFAULT_ALLOWED)
        if offset:
            self.confirmed = max(self.confirmed, offset - 1)
        assert self._new_update is not None
        deadline = time.monotonic() + timeout
        async with self._new_update:
            round_ = self._poll_round
            while True:
                ready = [
                    u
                    for u in self.updates
                    if u["update_id"] > self.confirmed and self._deliverable(u)
                ]
                if ready or time.monotonic() >= deadline or self._poll_round != round_:
                    return ready[:100]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())

    def _deliverable(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if kind not in self.allowed_updates:
            return False
        return not (kind == "message_reaction_count" and not self.bot_is_channel_admin)

    async def _m_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        file_id = params["file_id"]
        if file_id not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        data, path = self.files[file_id]
        if len(data) > 20 * 1024 * 1024:
            raise _ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "file_size": len(data),
            "file_path": path,
        }

    async def _m_getChat(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat = self._resolve_chat(params["chat_id"])
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11}

    async def _m_getChatMember(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat = self._resolve_chat(params["chat_id"])
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if (
            chat["type"] == "channel"
            and int(params["user_id"]) == BOT_ID
            and self.bot_is_channel_admin
        ):
            return {
                "status": "administrator",
                "user": self._bot_user(),
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": False,
                "can_restrict_members": False,
                "can_promote_members": False,
                "can_change_info": False,
                "can_invite_users": False,
                "can_post_messages": True,
                "can_edit_messages": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        return {"status": "member", "user": self._bot_user()} if chat["type"] == "channel" else {
            "status": "member", "user": {"id": int(params["user_id"]), "is_bot": False, "first_name": "U"}
        }  # fmt: skip

    def _outgoing(self, params: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params["chat_id"])
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if chat["type"] == "channel" and not self.bot_is_channel_admin:
            raise _ApiError(400, "Bad Request: need administrator rights in the channel chat")
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            **content,
        }
        if chat["type"] != "channel":
            message["from"] = self._bot_user()
        if params.get("reply_markup"):
            if chat["type"] != "private" and _web_app_buttons(params["reply_markup"]):
                raise _ApiError(400, "Bad Request: BUTTON_TYPE_INVALID")
            message["reply_markup"] = params["reply_markup"]
        with self._lock:
            self.messages[(chat["id"], message["message_id"])] = message
        return message

    async def _m_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        text = str(params.get("text", ""))
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        _check_markup(params.get("parse_mode"), text)
        return self._outgoing(params, {"text": text})

    def _media(self, params: dict[str, Any], files: dict[str, bytes], kind: str) -> dict[str, Any]:
        data = files.get(kind)
        if data is None and isinstance(params.get(kind), str) and params[kind] in self.files:
            data = self.files[params[kind]][0]
        if not data:
            raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
        caption = str(params.get("caption") or "")
        if _shown_length(params.get("parse_mode"), caption) > 1024:
            raise _ApiError(400, "Bad Request: message caption is too long")
        _check_markup(params.get("parse_mode"), caption)
        file_id = self.add_file(data, f"{kind}/{next(self._ids)}")
        media: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "file_size": len(data),
        }
        if kind == "audio":
            media.update({"duration": 5, "title": params.get("title"), "performer": params.get("performer"),
                          "mime_type": "audio/mpeg"})  # fmt: skip
        if kind == "video":
            media.update({"duration": 5, "width": 640, "height": 480, "mime_type": "video/mp4"})
        content: dict[str, Any] = {kind: media}
        if caption:
            content["caption"] = caption
            if entities := _caption_entities(params.get("parse_mode"), caption):
                content["caption_entities"] = entities
        return self._outgoing(params, content)

    async def _m_sendAudio(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self._media(params, files, "audio")

    async def _m_sendVideo(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self._media(params, files, "video")

    async def _m_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        data = files.get("photo")
        if not data:
            raise _ApiError(400, "Bad Request: there is no photo in the request")
        file_id = self.add_file(data, f"photo/{next(self._ids)}")
        return self._outgoing(
            params,
            {"photo": [{"file_id": file_id, "file_unique_id": "u" + file_id, "width": 1, "height": 1}],
             **({"caption": params["caption"]} if params.get("caption") else {})},
        )  # fmt: skip

    async def _m_sendMediaGroup(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        results = []
        for item in params["media"]:
            ref = str(item["media"]).removeprefix("attach://")
            sub = {"chat_id": params["chat_id"], item["type"]: files.get(ref) or item["media"],
                   "caption": item.get("caption"), "parse_mode": item.get("parse_mode")}  # fmt: skip
            results.append(
                self._media(sub, {item["type"]: files[ref]} if ref in files else {}, item["type"])
            )
        return results

    def _existing(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params["chat_id"])
        key = (chat["id"] if chat else 0, int(params["message_id"]))
        with self._lock:
            message = self.messages.get(key)
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return message

    async def _m_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        message = self._existing(params)
        text = str(params.get("text", ""))
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        _check_markup(params.get("parse_mode"), text)
        new_markup = params.get("reply_markup")
        if message.get("text") == text and message.get("reply_markup") == new_markup:
            raise _ApiError(400, "Bad Request: message is not modified")
        message["text"] = text
        message.pop("reply_markup", None)
        if new_markup:
            message["reply_markup"] = new_markup
        return message

    async def _m_editMessageReplyMarkup(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> Any:
        message = self._existing(params)
        message.pop("reply_markup", None)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _m_editMessageMedia(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """The media (and caption) of a message replaced; keyboards go unless sent again."""
        message = self._existing(params)
        media = params["media"]
        media = json.loads(media) if isinstance(media, str) else media
        for kind in ("video", "audio", "photo", "document", "caption"):
            message.pop(kind, None)
        file_id = str(next(self._ids))
        thing = {"file_id": file_id, "file_unique_id": "u" + file_id, "width": 320, "height": 320}
        if media["type"] in ("video", "audio"):
            thing["duration"] = 5
        message[media["type"]] = [thing] if media["type"] == "photo" else thing
        if media.get("caption"):
            message["caption"] = media["caption"]
        message.pop("reply_markup", None)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _m_deleteMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat = self._resolve_chat(params["chat_id"])
        key = (chat["id"] if chat else 0, int(params["message_id"]))
        with self._lock:
            if self.messages.pop(key, None) is None:
                raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _m_sendChatAction(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _m_answerInlineQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """One answer per query, within Telegram's time; results checked as Telegram does."""
        query_id = str(params.get("inline_query_id"))
        with self._lock:
            sent = self.inline_queries.get(query_id)
            if sent is None or time.monotonic() - sent > INLINE_ANSWER_S:
                raise _ApiError(400, QUERY_TOO_OLD)
        results = params.get("results")
        results = json.loads(results) if isinstance(results, str) else results
        if not isinstance(results, list):
            raise _ApiError(400, "Bad Request: can't parse inline query results JSON object")
        if len(results) > INLINE_RESULTS:
            raise _ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            self._check_inline_result(result)
            if result["id"] in seen:
                raise _ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
            seen.add(result["id"])
        if len(str(params.get("next_offset") or "").encode()) > 64:
            raise _ApiError(400, "Bad Request: NEXT_OFFSET_INVALID")
        button = params.get("button")
        button = json.loads(button) if isinstance(button, str) else button
        if button is not None:
            start = str(button.get("start_parameter") or "")
            if not button.get("text") or ("web_app" not in button and not _START.match(start)):
                raise _ApiError(400, "Bad Request: START_PARAM_INVALID")
        with self._lock:
            if self.inline_queries.pop(query_id, None) is None:  # answered meanwhile
                raise _ApiError(400, QUERY_TOO_OLD)
            self.inline_answers[query_id] = {**params, "results": results, "button": button}
        return True

    def _check_inline_result(self, result: Any) -> None:
        for name in ("type", "id"):
            if not isinstance(result, dict) or name not in result:
                raise _ApiError(400, f'Bad Request: can\'t parse inline query result: Can\'t find field "{name}"')  # fmt: skip
        if not 1 <= len(str(result["id"]).encode()) <= 64:
            raise _ApiError(400, "Bad Request: RESULT_ID_INVALID")
        kind = result["type"]
        # a cached file: its id, of a file of that kind that Telegram holds (this fake
        # serves no URLs, so the URL forms of these results are not taken)
        needed = {"audio": ("audio_file_id",), "video": ("video_file_id", "title")}.get(kind, ())
        for name in needed:
            if not isinstance(result.get(name), str) or not result[name]:
                raise _ApiError(400, f'Bad Request: can\'t parse inline query result: Can\'t find field "{name}"')  # fmt: skip
        if needed:
            held = self.files.get(result[needed[0]])
            if held is None or not held[1].startswith(f"{kind}/"):
                raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption = str(result.get("caption") or "")
        if _shown_length(result.get("parse_mode"), caption) > 1024:
            raise _ApiError(400, "Bad Request: message caption is too long")
        _check_markup(result.get("parse_mode"), caption)
        if _web_app_buttons(result.get("reply_markup") or {}):  # the chat is anyone's
            raise _ApiError(400, "Bad Request: BUTTON_TYPE_INVALID")

    async def _m_setChatMenuButton(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """A private chat's menu button, or (no chat_id) every private chat's default."""
        chat_id = params.get("chat_id")
        if chat_id is not None:
            chat = self._resolve_chat(chat_id)
            if chat is None or chat["type"] != "private":
                raise _ApiError(400, "Bad Request: chat not found")
            chat_id = chat["id"]
        button = params.get("menu_button") or {"type": "default"}
        button = json.loads(button) if isinstance(button, str) else button
        if button.get("type") not in ("commands", "web_app", "default"):
            raise _ApiError(400, "Bad Request: unsupported menu button type")
        if button["type"] == "web_app":
            url = str((button.get("web_app") or {}).get("url") or "")
            if not button.get("text") or not url.startswith("https://"):
                raise _ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        with self._lock:
            self.menu_buttons[chat_id] = button
        return True

    async def _m_getChatMenuButton(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id = params.get("chat_id")
        with self._lock:
            chosen = self.menu_buttons.get(int(chat_id)) if chat_id is not None else None
            return chosen or self.menu_buttons.get(None) or {"type": "default"}


_START = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")  # a deep link's parameter


def _web_app_buttons(markup: Any) -> bool:
    """Whether an inline keyboard has a button that opens a Mini App."""
    markup = json.loads(markup) if isinstance(markup, str) else markup
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return any("web_app" in button for row in rows for button in row)


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def _error(status: int, description: str, **extra: Any) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description, **extra}, status=status
    )


# What Telegram links in a text by itself. Real Telegram links bare domains of known
# top-level domains only; this links any (stricter: a test sees more links, not fewer).
_AUTOLINKS = (
    ("url", r"[a-z][a-z0-9+.-]*://\S+|(?<![\w@.-])(?:[\w-]+\.)+[^\W\d_]{2,}\b(?:/\S*)?"),
    ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ("mention", r"(?<![\w@])@\w{5,32}\b"),
)


def _caption_entities(parse_mode: Any, caption: str) -> list[dict[str, Any]]:
    """The link entities Telegram reports for a caption: ``<a href>`` (text_link) and what
    it links in the text itself (url, email, mention). Offsets in UTF-16 units, as Telegram."""
    import html
    import re

    def units(text: str) -> int:
        return len(text.encode("utf-16-le")) // 2

    entities: list[dict[str, Any]] = []
    plain = caption
    if parse_mode == "HTML":
        plain, opened = "", None
        for piece in re.split(r"(<[^>]*>)", caption):
            if link := re.match(r"<a\s[^>]*href=[\"']([^\"']*)", piece, re.I):
                opened = (units(plain), html.unescape(link.group(1)))
            elif re.match(r"</a\s*>", piece, re.I) and opened:
                entities.append({"type": "text_link", "offset": opened[0],
                                 "length": units(plain) - opened[0], "url": opened[1]})  # fmt: skip
                opened = None
            elif not piece.startswith("<"):
                plain += html.unescape(piece)
    for kind, pattern in _AUTOLINKS:
        for found in re.finditer(pattern, plain, re.I):
            entities.append({"type": kind, "offset": units(plain[: found.start()]),
                             "length": units(found.group())})  # fmt: skip
    return sorted(entities, key=lambda e: e["offset"])


def _shown_length(parse_mode: Any, text: str) -> int:
    """What Telegram's limits count: the text after entity parsing, in UTF-16 code units."""
    if parse_mode == "HTML":
        import html
        import re

        text = html.unescape(re.sub(r"<[^>]*>", "", text))
    return len(text.encode("utf-16-le")) // 2


def _check_markup(parse_mode: Any, text: str) -> None:
    """Telegram refuses HTML it cannot parse; so does this fake (a small subset of checks)."""
    if parse_mode != "HTML":
        return
    allowed = {"b", "i", "u", "s", "a", "code", "pre", "tg-spoiler", "blockquote", "strong", "em"}
    import re

    for tag in re.findall(r"</?([a-zA-Z-]+)[^>]*>", text):
        if tag.lower() not in allowed:
            raise _ApiError(
                400, f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"'
            )
    if re.search(r"<(?![a-zA-Z/])", text) or re.search(r"&(?!(lt|gt|amp|quot|#\d+);)", text):
        raise _ApiError(400, "Bad Request: can't parse entities: unescaped character")


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        return dict(await request.json()), files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = value.file.read()
        elif key in STRING_FIELDS:
            params[key] = value
        else:
            try:
                params[key] = json.loads(value)  # type: ignore[arg-type]
            except (ValueError, TypeError):
                params[key] = value
    for key in FILE_FIELDS & set(files):
        params.setdefault(key, f"<upload:{key}>")
    return params, files
