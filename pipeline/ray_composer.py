"""Compose on GPU workers of a Ray cluster, behind the same interface as the local composer.

Each ``immu worker`` host starts one ``PipelineWorker`` actor per GPU. An actor keeps
the models loaded and streams progress events, then the ``Composition``, back to the
bot through a Ray streaming generator. Workers are stateless: a job that loses its
worker is simply sent to another one.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from pipeline.chain import Pipeline, PipelineConfig
from pipeline.composer import ComposeRequest, _clean_photo
from pipeline.composition import ComposeOptions, Composition, Progress, ProgressCallback
from pipeline.encoder import Encoder
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

NAMESPACE = "immu"
ACTOR_PREFIX = "immu-pipeline-"
DISCOVER_EVERY_S = 5.0
PING_TIMEOUT_S = 3.0
# actors never run the bot's log set-up: keep the model libraries' advice out of their logs
QUIET_LIBRARIES = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


class NoWorkerError(PipelineError):
    """No GPU worker is alive, or every try of a job lost its worker."""


class PipelineWorker:
    """The actor body: one pipeline; up to ``batch_jobs`` jobs at once, their GPU work
    one at a time and their diffusion batched; progress streamed back."""

    def __init__(self, config: PipelineConfig) -> None:
        self.pipeline = Pipeline(config)
        self._slots = threading.Semaphore(config.batch_jobs)  # more wait their turn here
        self.jobs_done = 0

    def compose(self, photo: bytes, options: ComposeOptions) -> Iterator[Progress | Composition]:
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def run() -> None:
            with self._slots:
                try:
                    result = self.pipeline.compose(
                        photo, options, lambda e: events.put(("progress", e))
                    )
                    events.put(("result", result))
                except BaseException as exc:  # handed to the caller, which re-raises it
                    events.put(("error", exc))

        threading.Thread(target=run, daemon=True).start()
        while True:
            kind, value = events.get()
            if kind == "progress":
                yield value
            elif kind == "result":
                self.jobs_done += 1
                yield value
                return
            else:
                raise value

    def info(self) -> dict[str, Any]:
        import os
        import socket

        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "device": self.pipeline.device,
            "jobs_done": self.jobs_done,
        }


def start_workers(
    config: PipelineConfig, *, count: int, gpus_per_worker: float, name: str
) -> list[Any]:
    """On a worker host: start ``count`` named, detached actors pinned to this node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    actor_class = ray.remote(PipelineWorker)
    actors = []
    for i in range(count):
        actor = actor_class.options(  # type: ignore[attr-defined]
            name=f"{ACTOR_PREFIX}{name}-{i}",
            namespace=NAMESPACE,
            lifetime="detached",
            num_gpus=gpus_per_worker,
            num_cpus=0,
            max_concurrency=config.batch_jobs + 2,  # the jobs, and info answers meanwhile
            max_restarts=-1,  # a crashed actor comes back and reloads its models
            max_task_retries=0,  # the bot decides where a lost job goes next
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            runtime_env={"env_vars": QUIET_LIBRARIES},
        ).remote(config)
        actors.append(actor)
    ray.get([a.info.remote() for a in actors])  # type: ignore[attr-defined]  # models loaded
    return actors


class RayComposer:
    """The bot's side: picks the least busy live worker and retries lost jobs elsewhere."""

    def __init__(self, *, address: str, max_attempts: int = 3, ffmpeg: str = "ffmpeg") -> None:
        self.address = address
        self.max_attempts = max_attempts
        self._actors: dict[str, Any] = {}
        self._busy: dict[str, int] = {}
        self._discovered = 0.0
        self._encoder = Encoder(ffmpeg)  # the channel's videos are made on the bot's host

    async def start(self) -> None:
        import ray

        if not ray.is_initialized():
            await asyncio.to_thread(
                ray.init,
                address=self.address,
                namespace=NAMESPACE,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        await self._discover(force=True)
        log.info("ray composer ready workers=%d", len(self._actors))

    async def _discover(self, force: bool = False) -> None:
        import ray

        if not force and time.monotonic() - self._discovered < DISCOVER_EVERY_S:
            return
        self._discovered = time.monotonic()
        entries = await asyncio.to_thread(ray.util.list_named_actors, all_namespaces=True)
        names = {str(e["name"] if isinstance(e, dict) else e) for e in entries}
        for name in set(self._actors) - names:  # its `immu worker` stopped
            self._actors.pop(name, None)
        for name in sorted(names - set(self._actors)):
            if name.startswith(ACTOR_PREFIX):
                try:
                    self._actors[name] = ray.get_actor(name, namespace=NAMESPACE)
                    self._busy.setdefault(name, 0)
                except ValueError:
                    continue

    async def workers_alive(self) -> int:
        """Workers that answer a ping within PING_TIMEOUT_S (one that restarts does not)."""
        await self._discover(force=True)

        async def ping(actor: Any) -> bool:
            try:
                await asyncio.wait_for(actor.info.remote(), PING_TIMEOUT_S)
                return True
            except Exception:  # dead, restarting or unreachable: not alive
                return False

        return sum(await asyncio.gather(*(ping(a) for a in list(self._actors.values()))))

    async def clean_photo(self, data: bytes) -> bytes:
        return await asyncio.to_thread(_clean_photo, data)  # CPU work, no model: stays here

    async def video(self, mp3: bytes, cover_jpeg: bytes) -> bytes:
        return await asyncio.to_thread(self._encoder.mp4, mp3, cover_jpeg=cover_jpeg)

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
            if not self._actors:
                raise NoWorkerError("no GPU worker is connected (start `immu worker`)")
            name = min(self._actors, key=lambda n: self._busy.get(n, 0))
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
                self._actors.pop(name, None)
            finally:
                if name in self._busy:
                    self._busy[name] -= 1
        raise NoWorkerError(
            f"job {request.job_id} lost its worker {self.max_attempts} times"
        ) from last

    async def close(self) -> None:
        import ray

        if ray.is_initialized():
            await asyncio.to_thread(ray.shutdown)
