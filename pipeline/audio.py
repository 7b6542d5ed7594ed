"""Spectrogram images -> waveforms (Riffusion's inversion, batched, on the model's device)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.spectrogram import (
    GRIFFIN_LIM_ITERS,
    HOP_LENGTH,
    SAMPLE_RATE,
    audio_from_images,
)

CROSSFADE_S = 0.25


class AudioRenderer:
    """Turns Riffusion images into audio with the pseudo-inverse mel and Griffin-Lim."""

    sample_rate = SAMPLE_RATE

    def __init__(self, *, device: str, n_iter: int = GRIFFIN_LIM_ITERS) -> None:
        self.device, self.n_iter = device, n_iter

    @property
    def clip_seconds(self) -> float:
        return 511 * HOP_LENGTH / SAMPLE_RATE

    def render(self, images: list[Image.Image], *, seed: int = 0) -> list[np.ndarray]:
        return audio_from_images(images, device=self.device, n_iter=self.n_iter, seed=seed)

    def extend(self, audio: np.ndarray, seconds: float) -> np.ndarray:
        """Loop a clip with equal-power crossfades up to ``seconds`` (no click at the seams)."""
        fade = int(CROSSFADE_S * SAMPLE_RATE)
        target = int(seconds * SAMPLE_RATE)
        out = audio.copy()
        t = np.linspace(0, np.pi / 2, fade, dtype=np.float32)
        fade_out, fade_in = np.cos(t), np.sin(t)
        while len(out) < target:
            seam = out[-fade:] * fade_out + audio[:fade] * fade_in
            out = np.concatenate([out[:-fade], seam, audio[fade:]])
        return out[:target]
