"""GET /healthz as a supervisor probes it: 200 while updates arrive, a worker lives, the
store answers and the disk has room; 503 naming what is wrong; nothing with port 0."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import StartupError, serve
from tests.fakes.composer import FakeComposer
from tests.fakes.telegram_server import FakeTelegram
from tests.support.inprocess import StartBot, settings_for

SECRET = "a-long_random-Secret-0123456789-xyz"
PUBLIC_URL = "https://bot.example/telegram/hook"
PATH = "/telegram/hook"


def _free_port() -> int:
    return _free_ports(1)[0]


def _free_ports(count: int) -> list[int]:
    """Ports free now, each another: held together while the kernel picks them."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _probe(port: int) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as answer,
    ):
        return answer.status, await answer.json()


async def _probe_until(port: int, status: int, timeout: float = 60) -> dict[str, Any]:
    """Probe as a supervisor does, again, until the answer is ``status``; its JSON."""
    deadline = time.monotonic() + timeout
    while True:
        code, body = await _probe(port)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"/healthz never answered {status}: {code} {body}"
        await asyncio.sleep(0.05)


def _failing(body: dict[str, Any]) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


async def test_a_healthy_bot_answers_200_with_its_checks_and_stops_listening(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    port = _free_port()
    bot = await start_bot(health_port=port)
    status, body = await _probe(port)
    assert status == 200, body
    assert body["ok"] is True
    assert set(body["checks"]) == {"poll", "composer", "store", "disk"}
    assert _failing(body) == set()
    assert body["checks"]["composer"]["detail"] == "1 worker alive"
    await bot.stop()
    assert not _listening(port)


async def test_a_poll_that_stops_answering_is_503_naming_the_poll(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    port = _free_port()
    # polls of 1 s: one unanswered for 3 s is stuck (the default bound is 33 s)
    await start_bot(health_port=port, health_poll_stale_s=3)
    await _probe_until(port, 200)
    held = tg.hold("getUpdates")  # Telegram, or the way to it, stops answering
    try:
        body = await _probe_until(port, 503)
    finally:
        held.release()
    assert body["ok"] is False
    assert _failing(body) == {"poll"}
    assert "no answer to getUpdates" in body["checks"]["poll"]["detail"]
    await _probe_until(port, 200)  # answered again: healthy again


async def test_a_disk_under_the_minimum_is_503_naming_the_disk(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    port = _free_port()
    await start_bot(health_port=port, health_min_free_mb=10**12)  # more than any disk has
    status, body = await _probe(port)
    assert status == 503
    assert _failing(body) == {"disk"}
    assert "IMMU_HEALTH_MIN_FREE_MB" in body["checks"]["disk"]["detail"]


async def test_with_port_0_nothing_listens(
    tg: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    bot = await start_bot(health_port=0)
    await bot.until(lambda: "bot ready" in caplog.text, "ready")
    assert "web server listening" not in caplog.text  # polling, and no health route


async def test_on_the_webhooks_port_the_webhook_server_answers_the_probe(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    port = _free_port()
    tg.reverse_proxy[PUBLIC_URL] = f"http://127.0.0.1:{port}{PATH}"
    bot = await start_bot(
        webhook_url=PUBLIC_URL, webhook_port=port, webhook_secret=SECRET, health_port=port
    )
    status, body = await _probe(port)
    assert status == 200, body
    assert set(body["checks"]) == {"webhook", "composer", "store", "disk"}
    assert body["checks"]["webhook"]["detail"] == "0 updates waiting"
    ann = tg.user(42, "Ann")
    tg.send_text(ann, "/help")  # the webhook still takes updates beside the probe
    await bot.until(lambda: tg.calls_to("sendMessage", chat_id=42), "an answer")


async def test_a_webhook_telegram_cannot_deliver_to_is_503_naming_the_webhook(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    with socket.socket() as dead:  # bound, never listening: every connection is refused
        dead.bind(("127.0.0.1", 0))
        port, health = _free_ports(2)  # picked while it is held: neither is its port
        # the reverse proxy forwards there, not to the bot: every delivery fails
        tg.reverse_proxy[PUBLIC_URL] = f"http://127.0.0.1:{dead.getsockname()[1]}{PATH}"
        bot = await start_bot(
            webhook_url=PUBLIC_URL, webhook_port=port, webhook_secret=SECRET, health_port=health
        )
        tg.send_text(tg.user(42, "Ann"), "/help")
        await bot.until(lambda: tg.webhook_error, "a failed delivery")
    status, body = await _probe(health)
    assert status == 503
    assert _failing(body) == {"webhook"}
    assert "Connection refused" in body["checks"]["webhook"]["detail"]


async def test_a_health_port_in_use_is_one_clear_line(tg: FakeTelegram, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = settings_for(tg, tmp_path / "data", health_port=port)
        with pytest.raises(StartupError) as refused:
            await serve(settings, asyncio.Event(), FakeComposer())
    line = str(refused.value)
    assert "\n" not in line and "IMMU_HEALTH_PORT" in line and str(port) in line, line
