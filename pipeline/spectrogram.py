"""Riffusion's spectrogram format: audio <-> mel spectrogram <-> 8-bit image.

The numbers are Riffusion's (riffusion-hobby, ``SpectrogramParams``), so that images
made by Riffusion's own tools decode here and ours decode there. Everything runs in
``torch`` so the inversion (pseudo-inverse mel, then phase retrieval: ``pipeline.phase``)
runs on the GPU too, on a whole batch of tracks at once.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from pipeline.config import DEFAULT_PHASE, PhaseMethod
from pipeline.phase import Grid, griffin_lim, pghi_griffin_lim

SAMPLE_RATE = 44_100
N_FFT = 17_640  # 400 ms
WIN_LENGTH = 4_410  # 100 ms, Hann
HOP_LENGTH = 441  # 10 ms: one image column
N_MELS = 512
F_MIN = 0.0
F_MAX = 10_000.0
IMAGE_POWER = 0.25
NOMINAL_MAX = 30e6  # Riffusion's reference scale; irrelevant after normalisation
GRIFFIN_LIM_ITERS = 32
CLIP_COLUMNS = 512  # 5.12 s
CLIP_SAMPLES = CLIP_COLUMNS * HOP_LENGTH
STFT = Grid(hop=HOP_LENGTH, window=WIN_LENGTH, n_fft=N_FFT)


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@lru_cache(maxsize=1)
def _mel_filterbank_np() -> np.ndarray:
    """(n_freqs, n_mels) triangular HTK filters, no area normalisation (torchaudio's)."""
    n_freqs = N_FFT // 2 + 1
    all_freqs = np.linspace(0, SAMPLE_RATE // 2, n_freqs)
    m_pts = np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), N_MELS + 2)
    f_pts = _mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)


@lru_cache(maxsize=4)
def _mel_matrices(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The mel filterbank and its pseudo-inverse, computed once per device."""
    fb = torch.from_numpy(_mel_filterbank_np())
    pinv = torch.linalg.pinv(fb.double()).float()  # (n_mels, n_freqs)
    return fb.to(device), pinv.to(device)


def mel_from_audio(audio: torch.Tensor) -> torch.Tensor:
    """Mono waveform(s) (..., samples) at 44.1 kHz -> mel magnitudes (..., n_mels, frames)."""
    fb, _ = _mel_matrices(str(audio.device))
    magnitude = STFT.stft(audio.float()).abs()
    return torch.matmul(magnitude.transpose(-1, -2), fb).transpose(-1, -2)


def image_from_mel(mel: torch.Tensor) -> Image.Image:
    """One mel spectrogram (n_mels, frames) -> Riffusion's RGB image (loud is dark)."""
    data = mel.detach().double().cpu().numpy()
    peak = float(data.max())
    data = data / peak if peak > 0 else data
    data = np.power(data, IMAGE_POWER) * 255.0
    data = 255.0 - data
    image = Image.fromarray(data.astype(np.uint8))
    image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return image.convert("RGB")


def mel_from_image(image: Image.Image) -> torch.Tensor:
    """Riffusion's image -> mel magnitudes (n_mels, columns), scaled to NOMINAL_MAX."""
    image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if image.mode != "RGB":
        image = image.convert("RGB")
    pixels = np.asarray(image, dtype=np.float32)[:, :, 0]
    level = (255.0 - pixels) / 255.0
    return torch.from_numpy(np.power(level, 1.0 / IMAGE_POWER) * NOMINAL_MAX).float()


def audio_from_mel(
    mel: torch.Tensor,
    *,
    n_iter: int = GRIFFIN_LIM_ITERS,
    phase: PhaseMethod = DEFAULT_PHASE,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mel magnitudes (..., n_mels, frames) -> waveform(s), peak-normalised to 0.9.

    A batch (tracks stacked on the first axis) is inverted in one go. ``phase`` picks the
    phase retrieval (``pipeline.phase``); ``n_iter`` is its time budget in Griffin-Lim
    iterations at Riffusion's FFT size. Only ``griffin-lim`` is random (its start phase,
    from ``generator``); ``pghi`` gives the same audio every time.
    """
    fb, pinv = _mel_matrices(str(mel.device))
    mel = mel.float()
    linear = torch.matmul(mel.transpose(-1, -2), pinv).transpose(-1, -2).clamp_min(0)
    length = (mel.shape[-1] - 1) * HOP_LENGTH
    if phase == "griffin-lim":
        audio = griffin_lim(linear, STFT, length=length, n_iter=n_iter, generator=generator)
    else:
        flat = (-1, *mel.shape[-2:])  # pghi works on (tracks, bins, frames)
        audio = pghi_griffin_lim(
            mel.reshape(flat),
            fb,
            linear.reshape(-1, *linear.shape[-2:]),
            STFT,
            length=length,
            n_iter=n_iter,
        ).reshape(*mel.shape[:-2], length)
    peak = audio.abs().amax(dim=-1, keepdim=True).clamp_min(1e-9)
    return audio / peak * 0.9


def audio_from_images(
    images: list[Image.Image],
    *,
    device: str = "cpu",
    n_iter: int = GRIFFIN_LIM_ITERS,
    phase: PhaseMethod = DEFAULT_PHASE,
    seed: int = 0,
) -> list[np.ndarray]:
    """Riffusion images of equal size -> float32 mono waveforms, all inverted in one batch."""
    mels = torch.stack([mel_from_image(image) for image in images]).to(device)
    generator = torch.Generator().manual_seed(seed)
    audio = audio_from_mel(mels, n_iter=n_iter, phase=phase, generator=generator)
    return [row.cpu().numpy().astype(np.float32) for row in audio]


def image_from_audio(audio: np.ndarray, *, device: str = "cpu") -> Image.Image:
    """A mono 44.1 kHz waveform (its first 5.12 s) -> Riffusion's 512-column image."""
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    clip[: min(len(audio), CLIP_SAMPLES)] = audio[:CLIP_SAMPLES]
    mel = mel_from_audio(torch.from_numpy(clip).to(device))
    return image_from_mel(mel[:, :CLIP_COLUMNS])
