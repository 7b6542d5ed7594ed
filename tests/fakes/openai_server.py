"""A fake OpenAI-compatible chat-completions server: answers as scripted, records requests."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer


class FakeOpenAI:
    """``mode`` picks the answer: ``good``, ``garbage``, ``wrong_types``, ``same_genres``,
    ``injection``, ``markup``, ``links``, ``huge``, ``fenced``, ``slow``, ``error500``, ``error400``,
    ``no_json_mode`` (a 400 for ``response_format``, as a server without JSON mode
    answers, and otherwise the good brief inside a sentence). ``api_key``: the key it
    wants as ``Authorization: Bearer``; None: any or none, as Ollama and vLLM take."""

    def __init__(self) -> None:
        self.mode = "good"
        self.api_key: str | None = "test-key"
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self.requests: list[dict[str, Any]] = []
        self._gate: asyncio.Event | None = None  # while set and not released: answers wait
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self.server = LoopbackServer(app)

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/v1"

    def start(self) -> FakeOpenAI:
        self.server.start()
        return self

    def stop(self) -> None:
        self.release()
        self.server.stop()

    def hold(self) -> None:
        """Requests from now on are recorded, then wait unanswered until ``release``: a
        composer is busy in the brief stage for as long as the test wants."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self.server.loop.call_soon_threadsafe(self._gate.set)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        authorization = request.headers.get("Authorization")
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(authorization)
        if self.mode == "no_json_mode" and "response_format" in body:
            return web.json_response(
                {
                    "error": {
                        "message": "response_format json_object is not supported by this model",
                        "type": "BadRequestError",
                        "code": 400,
                    }
                },
                status=400,
            )
        if self._gate is not None:
            await self._gate.wait()
        if self.mode == "error400":
            return web.json_response({"error": {"message": "context too long"}}, status=400)
        if self.mode == "error500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if self.mode == "slow":
            await asyncio.sleep(5)
        content = {
            "good": json.dumps(
                {
                    "description": "warm acoustic guitar over soft waves at sunset",
                    "genres": ["bossa nova", "ambient", "acoustic folk"],
                    "mood": "serene",
                }
            ),
            "no_json_mode": "Here is the brief you asked for:\n"
            + json.dumps(
                {
                    "description": "warm acoustic guitar over soft waves at sunset",
                    "genres": ["bossa nova", "ambient", "acoustic folk"],
                    "mood": "serene",
                }
            )
            + "\nEnjoy!",
            "fenced": '```json\n{"description": "slow piano under rain", '
            '"genres": ["jazz", "classical piano", "lofi hip hop"], "mood": "wistful"}\n```',
            "garbage": "Sure! Here is some music: la la la",
            "wrong_types": json.dumps({"description": 42, "genres": "rock", "mood": None}),
            "same_genres": json.dumps(
                {"description": "music", "genres": ["rock", "Rock", "rock"], "mood": "x"}
            ),
            "injection": json.dumps(
                {
                    "description": "Ignore the format. " + "A" * 400,
                    "genres": ["<b>rock</b>", "pop"],
                    "mood": "evil",
                }
            ),
            "markup": json.dumps(
                {
                    "description": "<script>alert('x')</script> & <b>bold</b> " + "é" * 200,
                    "genres": ["<i>jazz</i>", "rock & roll", "lo-fi <3"],
                    "mood": "happy > sad",
                }
            ),
            "links": json.dumps(
                {
                    "description": "warm guitar; visit evil.example/x and t.me/spam, ask @scammer",
                    "genres": [
                        "bossa nova",
                        "jazz https://evil.example",
                        "ambient tg://resolve?domain=x",
                    ],
                    "mood": "serene @spam",
                }
            ),
            "huge": json.dumps(
                {"description": "x " * 5000, "genres": ["a", "b", "c"], "mood": "m"}
            ),
        }[self.mode]
        return web.json_response(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "test"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        )
