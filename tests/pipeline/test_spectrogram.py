"""Riffusion's format, checked on real signals: layout, scale, and audio round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline import spectrogram as S

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
    return sum(_tone(f) for f in (440.0, 554.37, 659.25)) / 3  # A major


def _sweep() -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * (200 * T + (4000 - 200) / (2 * 5.12) * T**2))).astype(
        np.float32
    )


def _noise_bursts() -> np.ndarray:
    rng = np.random.default_rng(0)
    gate = (T * 4) % 1 < 0.3
    return (0.3 * rng.standard_normal(len(T)) * gate).astype(np.float32)


# Measured with Riffusion's 32 iterations: 0.08 (chord, sweep) and 0.13 (noise).
# A wrong hop, window, mel range or a missing Griffin-Lim lands far above these.
@pytest.mark.parametrize(
    ("signal", "bound"), [(_chord, 0.12), (_sweep, 0.12), (_noise_bursts, 0.18)]
)
def test_round_trip_through_an_image_keeps_the_spectrum(signal, bound: float) -> None:  # type: ignore[no-untyped-def]
    original = signal()
    (rebuilt,) = S.audio_from_images([S.image_from_audio(original)])
    assert _spectral_error(original, rebuilt) < bound


def test_griffin_lim_iterations_matter() -> None:
    # guards the bound above: without real phase recovery the error is far larger
    original = _chord()
    image = S.image_from_audio(original)
    (one,) = S.audio_from_images([image], n_iter=1)
    (full,) = S.audio_from_images([image], n_iter=32)
    assert _spectral_error(original, full) < 0.6 * _spectral_error(original, one)


def test_a_batch_decodes_each_track_to_its_own_sound() -> None:
    low, high = _tone(300), _tone(2000)
    batch = S.audio_from_images([S.image_from_audio(low), S.image_from_audio(high)], n_iter=16)
    assert _spectral_error(low, batch[0]) < 0.15 and _spectral_error(high, batch[1]) < 0.15
    assert _spectral_error(low, batch[1]) > 0.9  # not mixed up
