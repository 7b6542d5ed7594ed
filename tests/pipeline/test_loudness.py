"""The loudness meter reads BS.1770's calibration points, and mastering lands on them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.loudness import integrated_loudness, master, true_peak_db

RATE = 44_100
T = np.arange(5 * RATE) / RATE


def test_a_full_scale_997_hz_sine_reads_minus_3_01_lufs() -> None:
    """BS.1770-4's calibration: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS."""
    assert integrated_loudness(np.sin(2 * np.pi * 997 * T), RATE) == pytest.approx(-3.01, abs=0.02)


def test_the_true_peak_sees_the_peak_between_the_samples() -> None:
    """A quarter-rate sine sampled 45 degrees off its crests: the samples stand at
    -3 dBFS, the wave between them at 0 dBTP."""
    samples = np.sin(2 * np.pi * (RATE / 4) * T + math.pi / 4)
    assert 20 * math.log10(np.abs(samples).max()) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_db(samples) == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("amplitude", [0.03, 0.3, 0.99])
def test_mastering_lands_on_the_target_under_the_ceiling(amplitude: float) -> None:
    chord = sum(np.sin(2 * np.pi * f * T) for f in (220.0, 277.18, 329.63))
    audio = (amplitude * chord / np.abs(chord).max()).astype(np.float32)
    out = master(audio, RATE, target_lufs=-14.0, ceiling_dbtp=-2.5)
    assert integrated_loudness(out, RATE) == pytest.approx(-14.0, abs=0.1)
    assert true_peak_db(out) <= -2.5 + 0.01
    assert out[0] == 0.0 and out[-1] == 0.0  # faded from and to silence


def test_silence_stays_silent() -> None:
    out = master(np.zeros(RATE, dtype=np.float32), RATE)
    assert not out.any()
