"""One GPU, several jobs: waiting text-to-image requests share one diffusion call.

Jobs on one worker run in their own threads. Whatever needs the GPU takes ``gpu``,
one at a time; the rest (the language-model call, ffmpeg) overlaps with another
job's GPU work. When the GPU frees up, the thread that takes it renders its own
prompts together with every request that is already waiting (same step count, up
to ``max_jobs`` jobs). Nothing waits for a batch to fill: a lone job runs alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

log = logging.getLogger(__name__)

StepCallback = Callable[[int, int], None]
RenderFn = Callable[..., list[Image.Image]]  # (prompts, seeds, *, steps, on_step, timings)


@dataclass
class _Request:
    prompts: list[str]
    seeds: list[int]
    steps: int | None
    on_step: StepCallback | None
    timings: dict[str, float] = field(default_factory=dict)
    images: list[Image.Image] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class RenderBatcher:
    """Runs ``render`` for several jobs' prompts at once; results go back to each job."""

    def __init__(self, render: RenderFn, *, max_jobs: int, gpu: threading.Lock) -> None:
        self._render = render
        self.max_jobs = max(1, max_jobs)
        self.gpu = gpu
        self._waiting: list[_Request] = []
        self._mutex = threading.Lock()
        self.calls = 0  # diffusion calls made, for logs and benchmarks

    def render(
        self,
        prompts: list[str],
        seeds: list[int],
        *,
        steps: int | None = None,
        on_step: StepCallback | None = None,
        timings: dict[str, float] | None = None,
    ) -> list[Image.Image]:
        request = _Request(prompts, seeds, steps, on_step)
        with self._mutex:
            self._waiting.append(request)
        with self.gpu:
            if not request.done:  # nobody took it along: lead a batch
                self._run(self._take(request))
        if request.error is not None:
            raise request.error
        if timings is not None:
            timings.update(request.timings)
        return request.images

    def _take(self, leader: _Request) -> list[_Request]:
        with self._mutex:
            batch = [leader]
            for other in self._waiting:
                if len(batch) >= self.max_jobs:
                    break
                if other is not leader and other.steps == leader.steps:
                    batch.append(other)
            for request in batch:
                self._waiting.remove(request)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        def on_step(k: int, n: int) -> None:
            for request in batch:
                if request.on_step is not None:
                    request.on_step(k, n)

        prompts = [p for r in batch for p in r.prompts]
        seeds = [s for r in batch for s in r.seeds]
        if len(batch) > 1:
            log.info("diffusion batch jobs=%d prompts=%d", len(batch), len(prompts))
        timings: dict[str, float] = {}
        try:
            images = self._render(
                prompts, seeds, steps=batch[0].steps, on_step=on_step, timings=timings
            )
            start = 0
            for request in batch:
                request.timings = dict(timings)
                request.images = images[start : start + len(request.prompts)]
                start += len(request.prompts)
        except BaseException as exc:  # every job of the batch hears of it
            for request in batch:
                request.error = exc
        finally:
            self.calls += 1
            for request in batch:
                request.done = True
