"""GET /healthz: whether this bot can do its work, for a supervisor to probe (systemd,
Docker's HEALTHCHECK, a Kubernetes probe, an uptime monitor).

200 and ``{"ok": true, "checks": {...}}`` when every check passes; 503 and the same
shape when one fails, that check ``"ok": false`` with a one-line reason. The checks:

- how updates arrive: ``poll`` (getUpdates answered recently) or ``webhook`` (Telegram
  reports no recent delivery error and no growing backlog); bot/telegram/updates.py;
- ``composer``: at least one worker alive;
- ``store``: a trivial query answers;
- ``disk``: the data folder's file system has ``IMMU_HEALTH_MIN_FREE_MB`` free.

The route has its own server on ``IMMU_HEALTH_HOST:IMMU_HEALTH_PORT``, in polling and
webhook mode alike; when that port is the webhook's, it is served by the webhook's
server (one port cannot be bound twice). The answer names no path, id or token: a
probe from outside the host learns only what is broken.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.settings import Settings
from bot.web.server import WebServer
from storage import Store

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
# a check that hangs (a store behind a long write, Telegram not answering) fails rather
# than hold the probe past the supervisor's own timeout (Kubernetes: 1 s by default,
# Docker: 30 s); the answer then says which one hung
CHECK_TIMEOUT_S = 5.0
MB = 1024 * 1024


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


Probe = Callable[[], Awaitable[Check]]


class Health:
    """The route's handler over named probes, run together on each request."""

    def __init__(self, probes: Mapping[str, Probe]) -> None:
        self.probes = dict(probes)
        self._failing: frozenset[str] = frozenset()

    async def handle(self, request: web.Request) -> web.Response:
        names = list(self.probes)
        results = await asyncio.gather(*(_run(self.probes[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        self._log_change(checks)
        ok = all(check.ok for check in checks.values())
        body = {
            "ok": ok,
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
        }
        return web.json_response(body, status=200 if ok else 503)

    def _log_change(self, checks: dict[str, Check]) -> None:
        """One line when a check starts or stops failing: a probe every few seconds must
        not repeat the same line all night."""
        failing = frozenset(name for name, check in checks.items() if not check.ok)
        for name in sorted(failing - self._failing):
            log.warning("health failing check=%s: %s", name, checks[name].detail)
        for name in sorted(self._failing - failing):
            log.info("health recovered check=%s", name)
        self._failing = failing


async def _run(probe: Probe) -> Check:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await probe()
    except TimeoutError:
        return Check(False, f"no answer within {CHECK_TIMEOUT_S:g} s")
    except Exception as exc:  # a failed check is an answer, never a 500
        return Check(False, f"{type(exc).__name__}: {str(exc)[:200]}")


def disk_probe(folder: Path, min_free_mb: int) -> Probe:
    """Room for photos, tracks and the store's writes: a full disk fails every job."""

    async def probe() -> Check:
        # a thread: a stalled network file system must not stall the event loop
        free_mb = (await asyncio.to_thread(shutil.disk_usage, folder)).free // MB
        if free_mb < min_free_mb:
            return Check(
                False,
                f"{free_mb} MB free in the data folder, under the {min_free_mb} MB minimum "
                "(IMMU_HEALTH_MIN_FREE_MB)",
            )
        return Check(True, f"{free_mb} MB free")

    return probe


def store_probe(store: Store) -> Probe:
    """The store answers a query (it waits behind any write in progress)."""

    async def probe() -> Check:
        active = await store.count_active()
        return Check(True, f"{active} {'job' if active == 1 else 'jobs'} queued or running")

    return probe


def workers_probe(alive: Callable[[], Awaitable[int]]) -> Probe:
    """The composer has a worker: without one, every photo waits forever."""

    async def probe() -> Check:
        count = await alive()
        return Check(count > 0, f"{count} {'worker' if count == 1 else 'workers'} alive")

    return probe


def health_server(settings: Settings, webhook: WebServer) -> WebServer | None:
    """The server the route goes on: none with IMMU_HEALTH_PORT=0; the webhook's when
    the webhook listens on the same port; else one of its own."""
    if not settings.health_port:
        return None
    if settings.webhook_url and settings.health_port == settings.webhook_port:
        return webhook
    return WebServer(settings.health_host, settings.health_port)
