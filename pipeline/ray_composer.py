"""Compose on GPU workers of a Ray cluster, behind the same interface as the local composer.

Each ``immu worker`` host starts one ``PipelineWorker`` actor per GPU
(``pipeline.ray_worker``). An actor keeps the models loaded and streams progress
events, then the ``Composition``, back to the bot through a Ray streaming generator.
Workers are stateless: a job that loses its worker goes to another, ready one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from pipeline.composer import ComposeRequest
from pipeline.composition import Composition, ProgressCallback
from pipeline.errors import NoWorkerError
from pipeline.ray_cluster import NAMESPACE, join_cluster
from pipeline.ray_worker import ACTOR_PREFIX, PING_TIMEOUT_S, ping

log = logging.getLogger(__name__)

DISCOVER_EVERY_S = 5.0
PING_EVERY_S = 0.5  # how often a worker that is not ready is asked again
READY_WAIT_S = 120.0  # how long a job waits for a worker when none is ready (models reload)


class RayComposer:
    """The bot's side: sends each job to the least busy ready worker, retries lost jobs.

    A worker is ready once it has answered a ping. One that loses a job (its actor
    died and Ray restarts it, or its host left) stops being ready until it answers
    again, so a retry goes to another worker rather than back to the restarting one.
    """

    def __init__(self, *, address: str, max_attempts: int = 3, allow_no_auth: bool = False) -> None:
        self.address = address
        self.max_attempts = max_attempts
        self.allow_no_auth = allow_no_auth
        self._actors: dict[str, Any] = {}
        self._busy: dict[str, int] = {}
        self._ready: set[str] = set()
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._ready_changed = asyncio.Event()
        self._discovered = 0.0

    async def start(self) -> None:
        """Join the cluster (``RayClusterError`` if it is not safe) and find the workers."""
        import ray

        if not ray.is_initialized():
            await asyncio.to_thread(
                join_cluster,
                self.address,
                allow_no_auth=self.allow_no_auth,
                log_to_driver=False,
            )
        await self._discover(force=True)
        log.info("ray composer ready workers=%d", len(self._actors))

    async def _discover(self, force: bool = False) -> None:
        import ray

        if not force and time.monotonic() - self._discovered < DISCOVER_EVERY_S:
            return
        self._discovered = time.monotonic()
        names = {
            str(n)
            for n in await asyncio.to_thread(ray.util.list_named_actors, all_namespaces=False)
            if str(n).startswith(ACTOR_PREFIX)
        }
        for name in set(self._actors) - names:  # its `immu worker` stopped
            self._forget(name)
        for name in sorted(names - set(self._actors)):
            try:
                self._actors[name] = ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:
                continue
            self._busy.setdefault(name, 0)
            self._watch(name)  # ready once it answers

    def _forget(self, name: str) -> None:
        self._actors.pop(name, None)
        self._ready.discard(name)
        self._ready_changed.set()

    def _watch(self, name: str) -> None:
        """Ping a worker that is not ready until it answers (or leaves the cluster)."""
        self._ready.discard(name)
        if name not in self._watchers or self._watchers[name].done():
            self._watchers[name] = asyncio.create_task(self._until_ready(name))

    async def _until_ready(self, name: str) -> None:
        while name in self._actors:
            if await self._answers(self._actors[name]):
                self._ready.add(name)
                self._ready_changed.set()
                log.info("worker ready worker=%s", name)
                return
            await asyncio.sleep(PING_EVERY_S)
            await self._discover()

    @staticmethod
    async def _answers(actor: Any) -> bool:
        try:
            await asyncio.wait_for(ping(actor), PING_TIMEOUT_S)
            return True
        except Exception:  # dead, restarting or unreachable: not ready
            return False

    async def _pick(self) -> str:
        """The least busy ready worker; waits up to READY_WAIT_S while none is ready."""
        deadline = time.monotonic() + READY_WAIT_S
        while True:
            ready = [n for n in self._actors if n in self._ready]
            if ready:
                return min(ready, key=lambda n: self._busy.get(n, 0))
            if not self._actors:
                raise NoWorkerError("no GPU worker is connected (start `immu worker`)")
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoWorkerError(f"no GPU worker became ready in {READY_WAIT_S:.0f} s")
            self._ready_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready_changed.wait(), min(left, DISCOVER_EVERY_S))
            await self._discover()

    async def workers_alive(self) -> int:
        """Workers that answer a ping within PING_TIMEOUT_S (one that restarts does not)."""
        await self._discover(force=True)
        names = list(self._actors)
        answers = await asyncio.gather(*(self._answers(self._actors[n]) for n in names))
        return sum(answers)

    async def compose(self, request: ComposeRequest, on_progress: ProgressCallback) -> Composition:
        import ray.exceptions as rex

        lost = (
            rex.ActorDiedError,
            rex.ActorUnavailableError,
            rex.RayActorError,
            rex.WorkerCrashedError,
        )
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            await self._discover(force=attempt > 1)
            name = await self._pick()
            self._busy[name] += 1
            log.info("job sent job=%d worker=%s attempt=%d", request.job_id, name, attempt)
            try:
                stream = self._actors[name].compose.remote(request.photo, request.options)
                async for ref in stream:
                    item = await ref
                    if isinstance(item, Composition):
                        return item
                    on_progress(item)
                raise NoWorkerError("the worker ended without a result")
            except lost as exc:
                last = exc
                log.warning(
                    "worker lost job=%d worker=%s attempt=%d", request.job_id, name, attempt
                )
                if name in self._actors:
                    self._watch(name)  # not ready until it answers again
            finally:
                self._busy[name] -= 1
        raise NoWorkerError(
            f"job {request.job_id} lost its worker {self.max_attempts} times"
        ) from last

    async def close(self) -> None:
        import ray

        for task in self._watchers.values():
            task.cancel()
        if ray.is_initialized():
            await asyncio.to_thread(ray.shutdown)
