"""The in-process composer: one GPU in this process, models loaded once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from pipeline.chain import Pipeline
from pipeline.composer import ComposeRequest
from pipeline.composition import Composition, Progress, ProgressCallback
from pipeline.config import PipelineConfig


class LocalComposer:
    """One GPU in this process: models load once; up to ``batch_jobs`` jobs run at once,
    their GPU work one at a time and their diffusion batched (see ``pipeline.batching``).

    Progress callbacks are delivered on the event loop's thread, so the caller may
    touch asyncio objects from them.
    """

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self._lane = ThreadPoolExecutor(config.batch_jobs, thread_name_prefix="immu-job")
        self._loading = asyncio.Lock()
        self._pipeline: Pipeline | None = None

    async def start(self) -> None:
        async with self._loading:  # several lanes may ask first: load the models once
            if self._pipeline is None:
                loop = asyncio.get_running_loop()
                self._pipeline = await loop.run_in_executor(self._lane, Pipeline, self.config)

    async def compose(self, request: ComposeRequest, on_progress: ProgressCallback) -> Composition:
        if self._pipeline is None:
            await self.start()
        pipeline = self._pipeline
        assert pipeline is not None
        loop = asyncio.get_running_loop()

        def progress(event: Progress) -> None:
            loop.call_soon_threadsafe(on_progress, event)

        return await loop.run_in_executor(
            self._lane, pipeline.compose, request.photo, request.options, progress
        )

    async def workers_alive(self) -> int:
        return 1 if self._pipeline is not None else 0

    async def close(self) -> None:
        self._lane.shutdown(wait=False, cancel_futures=True)
