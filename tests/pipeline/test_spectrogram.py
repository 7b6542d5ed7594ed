"""Riffusion's format, checked on real signals: layout, scale, and audio round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline import spectrogram as S
from pipeline.phase import pghi_phase

T = np.arange(S.CLIP_SAMPLES) / S.SAMPLE_RATE


def _tone(hz: float) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * T)).astype(np.float32)


def _htk_row_from_top(hz: float) -> float:
    """Independent oracle: where an HTK mel filterbank (0-10 kHz, 512 bins) puts ``hz``."""
    mel = 2595 * math.log10(1 + hz / 700)
    mel_max = 2595 * math.log10(1 + 10_000 / 700)
    bin_from_bottom = mel / mel_max * 513 - 1
    return 511 - bin_from_bottom


def _spectral_error(original: np.ndarray, rebuilt: np.ndarray) -> float:
    """Spectral convergence of the peak-normalised mel spectrograms (phase-blind)."""
    a = S.mel_from_audio(torch.from_numpy(original))[:, :511]
    b = S.mel_from_audio(torch.from_numpy(rebuilt))[:, :511]
    a, b = a / a.max(), b / b.max()
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(a))


def test_a_clip_is_a_512_by_512_greyscale_rgb_image() -> None:
    image = S.image_from_audio(_tone(440))
    assert image.size == (512, 512) and image.mode == "RGB"
    pixels = np.asarray(image)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()


@pytest.mark.parametrize("hz", [250.0, 1000.0, 4000.0])
def test_a_tone_is_a_dark_line_at_its_htk_mel_row_with_low_notes_at_the_bottom(hz: float) -> None:
    pixels = np.asarray(S.image_from_audio(_tone(hz)))[..., 0].astype(float)
    row = int(pixels[:, 50:450].mean(axis=1).argmin())  # loud is dark
    assert abs(row - _htk_row_from_top(hz)) <= 2
    assert pixels[row, 50:450].mean() < 10  # the peak is black
    assert np.median(pixels) > 200  # silence is white


def test_audio_shorter_than_a_clip_is_padded_and_longer_is_cut() -> None:
    short = S.image_from_audio(_tone(440)[: S.SAMPLE_RATE])
    long = S.image_from_audio(np.tile(_tone(440), 3))
    assert short.size == long.size == (512, 512)
    right = np.asarray(short)[..., 0][:, 200:]
    assert right.min() > 250  # silence after the first second


def test_image_to_mel_to_image_is_stable_within_one_grey_level() -> None:
    # Riffusion truncates to uint8, so a re-read may drift by one level, never more
    image = S.image_from_audio(_tone(880))
    again = S.image_from_mel(S.mel_from_image(image))
    diff = np.abs(np.asarray(image).astype(int) - np.asarray(again).astype(int))
    assert diff.max() <= 1


def test_reading_undoes_the_power_and_inversion() -> None:
    # a pixel value of 0 is the peak; 255 is silence; in between follows x ** 0.25
    column = np.full((512, 1), 255, dtype=np.uint8)
    column[10, 0] = 0
    column[20, 0] = 127
    mel = S.mel_from_image(Image.fromarray(column).convert("RGB"))
    top = mel.flip(0)[:, 0]  # undo the flip: row 10 from the top
    assert top[10] == pytest.approx(S.NOMINAL_MAX)
    assert top[20] == pytest.approx(S.NOMINAL_MAX * (128 / 255) ** 4, rel=1e-4)
    assert top[0] == 0


def test_an_image_decodes_to_5_11_seconds_of_44_1_khz_audio() -> None:
    (audio,) = S.audio_from_images([S.image_from_audio(_tone(440))], n_iter=2)
    assert len(audio) == 511 * S.HOP_LENGTH  # 5.11 s at 44.1 kHz
    assert 0.85 < np.abs(audio).max() <= 0.9 + 1e-6


def _chord() -> np.ndarray:
    return np.stack([_tone(f) for f in (440.0, 554.37, 659.25)]).sum(axis=0) / 3  # A major


def _sweep() -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * (200 * T + (4000 - 200) / (2 * 5.12) * T**2))).astype(
        np.float32
    )


def _noise_bursts() -> np.ndarray:
    rng = np.random.default_rng(0)
    gate = (T * 4) % 1 < 0.3
    return (0.3 * rng.standard_normal(len(T)) * gate).astype(np.float32)


# Measured with Riffusion's Griffin-Lim (32 iterations): 0.08 (chord), 0.07 (sweep),
# 0.13 (noise); with the default (pghi, the same budget): 0.023, 0.009, 0.028.
# A wrong hop, window, mel range or a missing phase retrieval lands far above these.
@pytest.mark.parametrize(
    ("phase", "signal", "bound"),
    [
        ("griffin-lim", _chord, 0.12),
        ("griffin-lim", _sweep, 0.12),
        ("griffin-lim", _noise_bursts, 0.18),
        ("default", _chord, 0.04),
        ("default", _sweep, 0.03),
        ("default", _noise_bursts, 0.05),
    ],
)
def test_round_trip_through_an_image_keeps_the_spectrum(phase, signal, bound: float) -> None:  # type: ignore[no-untyped-def]
    original = signal()
    chosen = {} if phase == "default" else {"phase": phase}
    (rebuilt,) = S.audio_from_images([S.image_from_audio(original)], **chosen)
    assert _spectral_error(original, rebuilt) < bound


def test_griffin_lim_iterations_matter() -> None:
    # guards the bound above: without real phase recovery the error is far larger
    original = _chord()
    image = S.image_from_audio(original)
    (one,) = S.audio_from_images([image], n_iter=1, phase="griffin-lim")
    (full,) = S.audio_from_images([image], n_iter=32, phase="griffin-lim")
    assert _spectral_error(original, full) < 0.6 * _spectral_error(original, one)


@pytest.mark.parametrize("signal", [_chord, _sweep, _noise_bursts])
def test_pghi_finds_the_phase_from_the_magnitudes_alone(signal) -> None:  # type: ignore[no-untyped-def]
    # no iterations: the phase integrated from the magnitudes' slopes rebuilds the sound,
    # where random phase smears it (a wrong sign or scale in a gradient fails this)
    original = signal()
    grid = S.STFT.coarse
    magnitude = grid.stft(torch.from_numpy(original))[None].abs()
    length = len(original)
    pghi = grid.istft(torch.polar(magnitude, pghi_phase(magnitude, grid)), length)[0]
    noise = torch.rand(magnitude.shape, generator=torch.Generator().manual_seed(0))
    random = grid.istft(torch.polar(magnitude, 2 * math.pi * noise), length)[0]
    assert _spectral_error(original, pghi.numpy()) < 0.1
    assert _spectral_error(original, random.numpy()) > 0.3


def test_a_batch_decodes_each_track_to_its_own_sound() -> None:
    low, high = _tone(300), _tone(2000)
    batch = S.audio_from_images([S.image_from_audio(low), S.image_from_audio(high)], n_iter=16)
    assert _spectral_error(low, batch[0]) < 0.15 and _spectral_error(high, batch[1]) < 0.15
    assert _spectral_error(low, batch[1]) > 0.9  # not mixed up


def test_each_track_of_a_batch_decodes_as_it_would_alone() -> None:
    # pghi is deterministic, and a batch shares transforms, never content: a track's first
    # frame must not take its phase from the previous track's last one
    low, sweep = S.image_from_audio(_tone(300)), S.image_from_audio(_sweep())
    (alone,) = S.audio_from_images([sweep], n_iter=4, phase="pghi")
    batch = S.audio_from_images([low, sweep], n_iter=4, phase="pghi")
    assert np.abs(batch[1] - alone).max() < 1e-3


@pytest.mark.parametrize("phase", ["pghi", "griffin-lim"])
def test_a_silent_image_decodes_to_silence(phase: str) -> None:
    white = Image.new("RGB", (512, 512), (255, 255, 255))
    (audio,) = S.audio_from_images([white], n_iter=4, phase=phase)  # type: ignore[arg-type]
    assert np.isfinite(audio).all() and np.abs(audio).max() == 0
