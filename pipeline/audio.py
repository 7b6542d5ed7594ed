"""Spectrogram images -> waveforms (Riffusion's inversion, batched, on the model's device)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.config import DEFAULT_PHASE, PhaseMethod
from pipeline.spectrogram import (
    GRIFFIN_LIM_ITERS,
    HOP_LENGTH,
    SAMPLE_RATE,
    audio_from_images,
)

CROSSFADE_S = 0.25


class AudioRenderer:
    """Turns Riffusion images into audio: pseudo-inverse mel, then phase retrieval."""

    sample_rate = SAMPLE_RATE

    def __init__(
        self, *, device: str, n_iter: int = GRIFFIN_LIM_ITERS, phase: PhaseMethod = DEFAULT_PHASE
    ) -> None:
        self.device, self.n_iter, self.phase = device, n_iter, phase

    @property
    def clip_seconds(self) -> float:
        return 511 * HOP_LENGTH / SAMPLE_RATE

    def render(self, images: list[Image.Image], *, seed: int = 0) -> list[np.ndarray]:
        return audio_from_images(
            images, device=self.device, n_iter=self.n_iter, phase=self.phase, seed=seed
        )

    @staticmethod
    def clips_needed(seconds: float) -> int:
        """How many consecutive clips make ``seconds`` of audio plus one crossfade to spare."""
        clip, fade = 511 * HOP_LENGTH, int(CROSSFADE_S * SAMPLE_RATE)
        target = int(seconds * SAMPLE_RATE) + fade
        count = 1
        while count * clip - (count - 1) * fade < target:
            count += 1
        return count

    @staticmethod
    def join(clips: list[np.ndarray], seconds: float) -> np.ndarray:
        """Consecutive clips -> one track of ``seconds``: equal-power crossfades at each
        join (no click), and an ending that flows back into the start (loopable)."""
        fade = int(CROSSFADE_S * SAMPLE_RATE)
        t = np.linspace(0, np.pi / 2, fade, dtype=np.float32)
        fade_out, fade_in = np.cos(t), np.sin(t)
        out = clips[0]
        for clip in clips[1:]:
            seam = out[-fade:] * fade_out + clip[:fade] * fade_in
            out = np.concatenate([out[:-fade], seam, clip[fade:]])
        target = int(seconds * SAMPLE_RATE)
        if len(out) < target + fade:
            raise ValueError(f"{len(clips)} clips are too short for {seconds} s")
        # The samples after the end fade into the start: playing on from the last
        # sample to the first continues the music instead of jumping.
        track = out[:target].copy()
        track[:fade] = out[target : target + fade] * fade_out + track[:fade] * fade_in
        return track
