"""A composer for tests: real ``Composition``s in milliseconds, held or failed on demand.

Like httpx's ``MockTransport``, this is a real implementation of the interface the
bot talks to (start, compose with progress, workers alive, close), only without
models. A compose walks the chain's stages (``pipeline.chain``) and emits the same
progress events, then returns three real MP3s (made once with ffmpeg through
``pipeline.encoder``, then cached), PNG spectrograms, a brief and captions.

Tests steer it instead of hoping the machine is slow or fast:

- ``hold(stage)`` pauses every compose that reaches ``stage`` until the test calls
  ``release()``; ``await hold.reached(n)`` waits until ``n`` jobs are paused there.
- ``fail_next(n, error)`` makes the next ``n`` composes raise ``error``.
- ``requests`` records every request (job ids, options such as a remix's).
- ``await alive_checks(n)`` waits until ``workers_alive`` was asked ``n`` more times.

Importing it loads no model library (no torch, transformers or diffusers).
"""

from __future__ import annotations

import asyncio
import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

from pipeline.composition import (
    Brief,
    BriefSource,
    Composition,
    Progress,
    ProgressCallback,
    Stage,
    Track,
)
from pipeline.photo import clean_jpeg, load_photo

if TYPE_CHECKING:  # pipeline.composer loads the chain, and with it torch
    from pipeline.composer import ComposeRequest

N_TRACKS = 3  # as pipeline.chain: three options per photo
DEFAULT_STEPS = 3  # diffusion steps reported as progress, unless the request says
TONE_HZ = (220.0, 330.0, 440.0)  # one audible tone per track, so the MP3s differ
TONE_SECONDS = 1.0
TONE_SAMPLE_RATE = 44_100  # Riffusion's rate, as pipeline.spectrogram.SAMPLE_RATE
SPECTROGRAM_SIDE = 32  # a tiny PNG stands in for a 512x512 spectrogram
WAIT_S = 60.0  # how long a test waits for a job to reach a hold before failing


@dataclass
class Hold:
    """A pause point: composes that reach ``stage`` (and ``step``) wait for ``release``."""

    stage: Stage
    step: int | None = None
    jobs: list[int] = field(default_factory=list)  # job ids paused here, in arrival order
    _released: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def matches(self, event: Progress) -> bool:
        if self._released.is_set() or event.stage != self.stage:
            return False
        return self.step is None or event.step == self.step

    async def pause(self, job_id: int) -> None:
        self.jobs.append(job_id)
        self._arrived.set()
        await self._released.wait()

    async def reached(self, jobs: int = 1, timeout: float = WAIT_S) -> list[int]:
        """Wait until ``jobs`` composes are paused here; the ids of the paused jobs."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.jobs) < jobs:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(
                f"{len(self.jobs)} of {jobs} jobs reached {self.stage} within {timeout} s"
            ) from None
        return list(self.jobs)

    def release(self) -> None:
        """Let every paused compose go on; later ones pass without pausing."""
        self._released.set()

    @property
    def released(self) -> bool:
        return self._released.is_set()


class FakeComposer:
    """The composer interface without models; see the module docstring."""

    def __init__(
        self,
        *,
        description: str = "warm acoustic guitar over soft waves at sunset",
        genres: Sequence[str] = ("bossa nova", "ambient", "acoustic folk"),
        mood: str = "serene",
        captions: Sequence[str] = (
            "a sunset over the sea",
            "the sun going down behind the water",
            "an orange sky at dusk",
        ),
        source: BriefSource = "llm",
        steps: int = DEFAULT_STEPS,
        alive: int = 1,
    ) -> None:
        self.description = description
        self.genres = tuple(genres)
        self.mood = mood
        self.captions = tuple(captions)
        self.source: BriefSource = source
        self.steps = steps
        self.alive = alive
        self.requests: list[ComposeRequest] = []
        self.started = False
        self.closed = False
        self._holds: list[Hold] = []
        self._failures: list[BaseException] = []
        self._alive_checks = 0
        self._alive_asked = asyncio.Event()

    # --- steering, for tests ---

    def hold(self, stage: Stage = Stage.CAPTION, *, step: int | None = None) -> Hold:
        """Pause composes when they reach ``stage`` (at ``step`` of the music stage)."""
        gate = Hold(stage, step)
        self._holds.append(gate)
        return gate

    def fail_next(self, times: int, error: BaseException) -> None:
        """The next ``times`` composes raise ``error`` once they have started captioning."""
        self._failures.extend([error] * times)

    @property
    def job_ids(self) -> list[int]:
        return [request.job_id for request in self.requests]

    @property
    def alive_checks(self) -> int:
        return self._alive_checks

    async def alive_asked(self, times: int = 1, timeout: float = WAIT_S) -> None:
        """Wait until ``workers_alive`` has been asked ``times`` more times from now."""
        target = self._alive_checks + times
        try:
            async with asyncio.timeout(timeout):
                while self._alive_checks < target:
                    self._alive_asked.clear()
                    await self._alive_asked.wait()
        except TimeoutError:
            raise AssertionError(f"workers_alive asked fewer than {times} times") from None

    # --- the composer interface ---

    async def start(self) -> None:
        self.started = True

    async def compose(self, request: ComposeRequest, on_progress: ProgressCallback) -> Composition:
        """The chain's stages and progress events, then three real MP3s."""
        self.requests.append(request)
        options = request.options
        cover = await asyncio.to_thread(_cover, request.photo)  # PhotoError, as the chain

        await self._stage(request.job_id, on_progress, Progress(Stage.CAPTION))
        if self._failures:
            raise self._failures.pop(0)
        await self._stage(request.job_id, on_progress, Progress(Stage.BRIEF))
        brief = Brief(self.description, _three(self.genres), self.mood, self.source)
        genres = list(brief.genres)
        prompts = [brief.prompt(i) for i in range(N_TRACKS)]
        if options.remix_png is not None:  # as the chain: three variations of one track
            genres = [options.remix_genre or genres[0]] * N_TRACKS
            prompts = [options.remix_prompt or prompts[0]] * N_TRACKS

        steps = options.steps or self.steps
        await self._stage(request.job_id, on_progress, Progress(Stage.MUSIC))
        for step in range(1, steps + 1):
            await self._stage(request.job_id, on_progress, Progress(Stage.MUSIC, step, steps))
        await self._stage(request.job_id, on_progress, Progress(Stage.AUDIO))
        await self._stage(request.job_id, on_progress, Progress(Stage.ENCODE))
        mp3s = await asyncio.to_thread(_tones)

        seeds = [options.seed * N_TRACKS + i for i in range(N_TRACKS)]
        tracks = tuple(
            Track(
                index=i,
                genre=genres[i],
                prompt=prompts[i],
                seed=seeds[i],
                mp3=mp3s[i],
                spectrogram_png=_spectrogram(seeds[i]),
                duration_s=TONE_SECONDS,
            )
            for i in range(N_TRACKS)
        )
        seconds = {stage.value: 0.01 for stage in Stage}
        return Composition(self.captions, brief, tracks, cover, seconds)

    async def workers_alive(self) -> int:
        self._alive_checks += 1
        self._alive_asked.set()
        return self.alive if self.started and not self.closed else 0

    async def close(self) -> None:
        self.closed = True
        for gate in self._holds:  # a held compose must not outlive the bot
            gate.release()

    async def _stage(self, job_id: int, on_progress: ProgressCallback, event: Progress) -> None:
        on_progress(event)
        for gate in self._holds:
            if gate.matches(event):
                await gate.pause(job_id)
        await asyncio.sleep(0)  # as a real compose: the bot's loop runs between events


def _three(genres: Sequence[str]) -> tuple[str, str, str]:
    padded = [*genres, "ambient", "lofi", "jazz"][:N_TRACKS]
    return padded[0], padded[1], padded[2]


def _cover(photo: bytes) -> bytes:
    return clean_jpeg(load_photo(photo))


def _spectrogram(seed: int) -> bytes:
    """A small greyscale PNG, different per seed, as a stand-in spectrogram."""
    shade = seed * 37 % 256
    image = Image.new("RGB", (SPECTROGRAM_SIDE, SPECTROGRAM_SIDE), (shade, shade, shade))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@functools.cache
def _tones() -> tuple[bytes, ...]:
    """Three one-second tones as MP3s with tags and cover art, encoded once per process."""
    import numpy as np

    from pipeline.encoder import Encoder  # imports the spectrogram maths, and torch

    cover = io.BytesIO()
    Image.new("RGB", (64, 64), "orange").save(cover, format="JPEG")
    t = np.arange(int(TONE_SECONDS * TONE_SAMPLE_RATE)) / TONE_SAMPLE_RATE
    return tuple(
        Encoder().mp3(
            0.3 * np.sin(2 * math.pi * hz * t),
            cover_jpeg=cover.getvalue(),
            title=f"IMMU {i + 1}",
            genre="test",
        )
        for i, hz in enumerate(TONE_HZ)
    )


__all__ = ["FakeComposer", "Hold"]
