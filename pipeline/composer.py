"""The composer interface: where compositions are made, as the bot sees it.

Only what differs between making music in this process and on GPU workers is here:
start, compose (with progress), workers alive, close. Work that needs no GPU (cleaning
a photo, making the channel's MP4) is a plain pipeline call. Implementations:
``pipeline.local_composer`` (this process), ``pipeline.ray_composer`` (GPU workers);
the tests' ``tests.fakes.composer`` keeps the same promises without models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pipeline.composition import ComposeOptions, Composition, ProgressCallback


@dataclass(frozen=True)
class ComposeRequest:
    """One job as the composer sees it: an id for logs, the photo, the options."""

    job_id: int
    photo: bytes
    options: ComposeOptions


class Composer(Protocol):
    """Where compositions are made. The bot does not know if it is local or remote."""

    async def start(self) -> None:
        """Load the models or reach the workers; raises ``PipelineError`` if it cannot."""
        ...

    async def compose(self, request: ComposeRequest, on_progress: ProgressCallback) -> Composition:
        """The three tracks for one photo; progress events arrive on the event loop."""
        ...

    async def workers_alive(self) -> int:
        """Pipelines that answer now (for /stats and the metrics)."""
        ...

    async def close(self) -> None: ...
