"""The GPU side of the Ray cluster: pipeline actors, how ``immu worker`` starts them, and
what each one says about itself.

The actors belong to the ``immu worker`` process that starts them (they are not
detached): when it stops, even by ``kill -9``, Ray ends them and their GPUs are free.
A crashed actor is restarted while its ``immu worker`` lives. Secrets never travel in
the actors' arguments (Ray keeps those in its actor table for restarts): the actors
read them from their ``immu worker``, on the same host, while it lives.
"""

from __future__ import annotations

import json
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.chain import Pipeline
from pipeline.composition import ComposeOptions, Composition, Progress
from pipeline.config import PipelineConfig
from pipeline.errors import PipelineError
from pipeline.quiet import QUIET_ENV

ACTOR_PREFIX = "immu-pipeline-"
PING_TIMEOUT_S = 3.0
CONTROL = "control"  # pings and status answer on their own threads, whatever the jobs do
CONTROL_THREADS = 2


class PipelineWorker:
    """The actor body: one pipeline; up to ``batch_jobs`` jobs at once, their GPU work
    one at a time and their diffusion batched; progress streamed back."""

    def __init__(self, config: PipelineConfig, secrets_path: str | None = None) -> None:
        if secrets_path:
            config = replace(config, llm_api_key=_read_secrets(secrets_path).get("llm_api_key"))
        self.pipeline = Pipeline(config)
        self._slots = threading.Semaphore(config.batch_jobs)  # more wait their turn here
        self._lock = threading.Lock()
        self.in_flight = 0
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

        with self._lock:
            self.in_flight += 1
        try:
            threading.Thread(target=run, daemon=True).start()
            while True:
                kind, value = events.get()
                if kind == "progress":
                    yield value
                elif kind == "result":
                    with self._lock:
                        self.jobs_done += 1
                    yield value
                    return
                else:
                    raise value
        finally:
            with self._lock:
                self.in_flight -= 1

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "host": ray.util.get_node_ip_address(),  # as Ray's table has it, ready or not
            "pid": os.getpid(),
            "device": self.pipeline.device,
            "in_flight": self.in_flight,
            "jobs_done": self.jobs_done,
        }


def ping(actor: Any) -> Any:
    """The ObjectRef of the actor's ``info``, asked on its control threads."""
    return actor.info.options(concurrency_group=CONTROL).remote()


@contextmanager
def secrets_for_actors(config: PipelineConfig) -> Iterator[str | None]:
    """A path this host's actors read ``config``'s secrets from, valid inside the block.

    On Linux the secrets live only in this process's memory (a memfd that the actors
    open through /proc while this process lives); elsewhere in a private temp file.
    """
    if not config.llm_api_key:
        yield None
        return
    data = json.dumps({"llm_api_key": config.llm_api_key}).encode()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("immu-secrets", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/{os.getpid()}/fd/{fd}"
        finally:
            os.close(fd)
    else:  # pragma: no cover - macOS
        with tempfile.TemporaryDirectory(prefix="immu-secrets-") as folder:  # mode 0700
            path = Path(folder) / "secrets.json"
            path.write_bytes(data)
            yield str(path)


def _read_secrets(path: str) -> dict[str, str]:
    try:
        values = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise PipelineError(
            f"cannot read the secrets of this worker's `immu worker` ({exc.strerror}): run "
            f"`ray start` and `immu worker` as the same user on the same host"
        ) from None
    return {str(k): str(v) for k, v in values.items()}


def start_workers(
    config: PipelineConfig,
    *,
    count: int,
    gpus_per_worker: float,
    name: str,
    secrets_path: str | None = None,
) -> list[Any]:
    """Start ``count`` named actors pinned to this node and owned by this process; they
    end with it. ``config``'s secrets are left out: the actors read ``secrets_path``."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    public = replace(config, llm_api_key=None)
    node = ray.get_runtime_context().get_node_id()
    groups = {CONTROL: CONTROL_THREADS}
    actor_class = ray.remote(concurrency_groups=groups)(PipelineWorker)  # type: ignore[call-overload]
    actors = []
    for i in range(count):
        actor = actor_class.options(  # type: ignore[attr-defined]
            name=f"{ACTOR_PREFIX}{name}-{i}",
            num_gpus=gpus_per_worker,
            num_cpus=0,
            max_concurrency=config.batch_jobs + 2,  # the jobs; more wait in Ray's queue
            max_restarts=-1,  # a crashed actor comes back and reloads its models
            max_task_retries=0,  # the bot decides where a lost job goes next
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            runtime_env={"env_vars": QUIET_ENV},
        ).remote(public, secrets_path)
        actors.append(actor)
    ray.get([ping(a) for a in actors])  # models loaded
    return actors


@dataclass(frozen=True)
class WorkerStatus:
    """One pipeline actor as ``immu worker --list`` shows it."""

    name: str
    host: str
    pid: int | None
    device: str
    in_flight: int | None
    ready: bool

    def line(self) -> str:
        jobs = "?" if self.in_flight is None else str(self.in_flight)
        state = "ready" if self.ready else "restarting"
        pid = "?" if self.pid is None else str(self.pid)
        return f"{self.name}  host={self.host} pid={pid} device={self.device} jobs={jobs} {state}"


def list_workers(timeout_s: float = PING_TIMEOUT_S) -> list[WorkerStatus]:
    """Every pipeline actor of the cluster (``ray.init`` done): ready ones answer a ping
    within ``timeout_s``; one that does not is restarting (or still loading its models)."""
    import ray

    from pipeline.ray_cluster import NAMESPACE

    names = sorted(
        n for n in ray.util.list_named_actors(all_namespaces=False) if n.startswith(ACTOR_PREFIX)
    )
    handles = {}
    for n in names:
        try:
            handles[n] = ray.get_actor(n, namespace=NAMESPACE)
        except ValueError:  # stopped since the listing
            continue
    refs = {n: ping(a) for n, a in handles.items()}
    ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
    out = []
    for n, ref in refs.items():
        try:
            info = ray.get(ref, timeout=0)
        except Exception:  # restarting, loading or gone: not ready
            out.append(WorkerStatus(n, _node_address(handles[n]), None, "?", None, False))
            continue
        out.append(
            WorkerStatus(n, info["host"], info["pid"], info["device"], info["in_flight"], True)
        )
    return out


def _node_address(actor: Any) -> str:
    """The address of the node an actor that does not answer lives on, from Ray's table."""
    try:
        from ray._private.state import actors

        return str(actors(actor._actor_id.hex())["Address"]["IPAddress"]) or "?"
    except Exception:  # Ray's table is private API: show "?" rather than fail the listing
        return "?"
