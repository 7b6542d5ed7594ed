"""The composer interface the bot talks to, and the in-process implementation."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from pipeline.chain import Pipeline, PipelineConfig
from pipeline.composition import ComposeOptions, Composition, Progress, ProgressCallback
from pipeline.photo import MODEL_SIDE, clean_jpeg, load_photo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComposeRequest:
    """One job as the composer sees it: an id for logs, the photo, the options."""

    job_id: int
    photo: bytes
    options: ComposeOptions


class Composer(Protocol):
    """Where compositions are made. The bot does not know if it is local or remote."""

    async def start(self) -> None: ...

    async def clean_photo(self, data: bytes) -> bytes: ...

    async def compose(
        self, request: ComposeRequest, on_progress: ProgressCallback
    ) -> Composition: ...

    async def video(self, mp3: bytes, cover_jpeg: bytes) -> bytes: ...

    async def workers_alive(self) -> int:
        """Pipelines that answer now (for /stats and the metrics)."""
        ...

    async def close(self) -> None: ...


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

    async def clean_photo(self, data: bytes) -> bytes:
        """Untrusted bytes -> an upright, bounded JPEG without metadata; ``PhotoError`` if unusable."""
        return await asyncio.to_thread(_clean_photo, data)

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

    async def video(self, mp3: bytes, cover_jpeg: bytes) -> bytes:
        if self._pipeline is None:
            await self.start()
        assert self._pipeline is not None
        # ffmpeg is CPU work: keep it off the GPU lane so it never waits behind a render
        return await asyncio.to_thread(self._pipeline.video, mp3, cover_jpeg)

    async def workers_alive(self) -> int:
        return 1 if self._pipeline is not None else 0

    async def close(self) -> None:
        self._lane.shutdown(wait=False, cancel_futures=True)


def _clean_photo(data: bytes) -> bytes:
    return clean_jpeg(load_photo(data), max_side=MODEL_SIDE)
