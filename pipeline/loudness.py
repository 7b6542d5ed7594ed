"""Every track at one loudness: -14 LUFS integrated, true peak under -1 dBTP, soft ends.

The measure is ITU-R BS.1770-4 (EBU R128's): K-weighting, 400 ms blocks every 100 ms,
an absolute gate at -70 LUFS and a relative gate 10 LU under the ungated loudness. The
true peak is the peak of the signal oversampled four times (band-limited interpolation).

``master`` rolls off what lies over 14 kHz (a Riffusion track has nothing there), fades
the ends (no click where a track starts or stops), sets the gain to the target and
catches what then rises over the ceiling with a look-ahead limiter on the oversampled
peaks, measuring again after each pass so the limiter's loss is made up. The ceiling
leaves room for what MP3 and AAC encoding add to the peaks.

ffmpeg's ``loudnorm`` does not do here: in its dynamic mode a 5 s clip lands up to 3 LU
under the target with peaks over -1 dBTP, and a clip under 3 s comes out near silent;
its two-pass linear mode falls back to the dynamic one whenever the gain would push
the peaks over the ceiling (``bench/loudness.py``).
"""

from __future__ import annotations

import math

import numpy as np

TARGET_LUFS = -14.0  # what Spotify and YouTube play at
CEILING_DBTP = -2.5  # on the waveform: MP3 encoding of a limited track adds up to 1 dB
FADE_IN_S = 0.015
FADE_OUT_S = 0.08
# Riffusion's spectrograms end at 10 kHz, so a track has nothing above this; what a
# made signal has there, MP3 and AAC throw away or turn into overshooting peaks
BAND_LIMIT_HZ = (14_000.0, 16_000.0)  # a raised-cosine roll-off between the two
MAX_GAIN_DB = 30.0  # a near-silent track stays quiet instead of becoming loud noise
MAX_LIMITING_DB = 12.0  # the limiter takes at most this off the highest peak
MAX_DRIVE = 4.0  # past the limiter's most, a tanh saturation drives at most this hard
OVERSAMPLE = 4
LOOKAHEAD_S = 0.002  # the limiter's gain falls over this long before a peak
HOLD_S = 0.01  # and stays down this long after it before rising again
PASSES = 6

_BLOCK_S, _STEP_S = 0.4, 0.1
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE = -10.0


def _biquad_response(b: tuple[float, ...], a: tuple[float, ...], n: int) -> np.ndarray:
    """The frequency response of b/a at the bins of an ``n``-point real FFT."""
    z = np.exp(-1j * np.pi * np.arange(n // 2 + 1) / (n // 2))
    return (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)


def _k_weighted(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """BS.1770's two filters (a high shelf, then a high-pass), their coefficients worked
    out for any sample rate as libebur128 does, applied through one FFT; the padding
    holds the filters' tails."""
    k = math.tan(math.pi * 1681.974450955533 / sample_rate)
    q, vh = 0.7071752369554196, 10 ** (3.999843853973347 / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf_b = (
        (vh + vb * k / q + k * k) / a0,
        2 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
    )
    shelf_a = (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0)
    k = math.tan(math.pi * 38.13547087602444 / sample_rate)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    high_b, high_a = (1.0, -2.0, 1.0), (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0)
    n = 1 << int(len(audio) + sample_rate).bit_length()
    response = _biquad_response(shelf_b, shelf_a, n) * _biquad_response(high_b, high_a, n)
    return np.fft.irfft(np.fft.rfft(audio.astype(np.float64), n) * response, n)[: len(audio)]


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """LUFS of a mono waveform; ``-inf`` when every block is under the absolute gate."""
    weighted = _k_weighted(audio, sample_rate)
    block, step = round(_BLOCK_S * sample_rate), round(_STEP_S * sample_rate)
    if len(weighted) < block:  # shorter than one block: the whole as one
        weighted = np.pad(weighted, (0, block - len(weighted)))
    power = np.concatenate([[0.0], np.cumsum(weighted * weighted)])
    starts = np.arange(0, len(weighted) - block + 1, step)
    z = (power[starts + block] - power[starts]) / block
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(z)
    z = z[loudness > _ABSOLUTE_GATE]
    if not len(z):
        return -math.inf
    relative = -0.691 + 10 * math.log10(z.mean()) + _RELATIVE_GATE
    z = z[-0.691 + 10 * np.log10(z) > relative]
    return -0.691 + 10 * math.log10(z.mean())


def _oversampled(audio: np.ndarray) -> np.ndarray:
    n = len(audio)
    return np.fft.irfft(np.fft.rfft(audio.astype(np.float64)), n * OVERSAMPLE) * OVERSAMPLE


def true_peak_db(audio: np.ndarray) -> float:
    """dBTP: the peak of the waveform oversampled four times."""
    peak = float(np.abs(_oversampled(audio)).max()) if len(audio) else 0.0
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def _limit(audio: np.ndarray, ceiling: float, sample_rate: int) -> np.ndarray:
    """A look-ahead limiter on the true peak: each sample gets the smallest gain any
    oversampled peak within the look-ahead before it or the hold after it asks for,
    smoothed by an average over the look-ahead, which never exceeds what a peak asks
    for, so no peak passes the ceiling."""
    peaks = np.abs(_oversampled(audio)).reshape(-1, OVERSAMPLE).max(axis=1)
    # the interpolated peak between two samples belongs to both
    peaks = np.maximum(peaks, np.roll(peaks, 1))
    wanted = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    if wanted.min() >= 1.0:
        return audio
    ahead, hold = round(LOOKAHEAD_S * sample_rate), round(HOLD_S * sample_rate)
    gain = _running_min(wanted, hold, ahead)
    kernel = np.ones(2 * ahead + 1) / (2 * ahead + 1)
    gain = np.convolve(np.pad(gain, ahead, constant_values=1.0), kernel, mode="valid")
    return (audio * gain).astype(audio.dtype)


def _running_min(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[i] = min(x[i - before : i + after + 1]), outside x counting as 1, in linear
    time (van Herk / Gil-Werman: minima from each block's start and from its end)."""
    width = before + after + 1
    padded = np.pad(x, (before, after), constant_values=1.0)
    padded = np.pad(padded, (0, -len(padded) % width), constant_values=1.0)
    blocks = padded.reshape(-1, width)
    from_start = np.minimum.accumulate(blocks, axis=1).ravel()
    to_end = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    n = len(x)
    return np.minimum(to_end[:n], from_start[width - 1 : width - 1 + n])


def _band_limited(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    spectrum = np.fft.rfft(audio.astype(np.float64))
    hz = np.fft.rfftfreq(len(audio), 1 / sample_rate)
    low, high = BAND_LIMIT_HZ
    where = np.clip((hz - low) / (high - low), 0.0, 1.0)
    spectrum *= 0.5 + 0.5 * np.cos(np.pi * where)
    return np.fft.irfft(spectrum, len(audio)).astype(np.float32)


def _fade(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    out = _band_limited(audio, sample_rate) if len(audio) else audio.astype(np.float32)
    for seconds, end in ((FADE_IN_S, False), (FADE_OUT_S, True)):
        n = min(round(seconds * sample_rate), len(out) // 2)
        if not n:
            continue
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, dtype=np.float32))
        if end:
            out[len(out) - n :] *= ramp[::-1]
        else:
            out[:n] *= ramp
    return out


def master(
    audio: np.ndarray,
    sample_rate: int,
    *,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float = CEILING_DBTP,
) -> np.ndarray:
    """A waveform -> the same at ``target_lufs`` with its true peak at or under
    ``ceiling_dbtp``, faded in and out. A near-silent one is only faded.

    The ceiling comes first. A track whose peaks stand far above its loudness (full-band
    noise bursts: a hat, a shaker) is limited by at most ``MAX_LIMITING_DB``; where that
    cannot reach the target, a soft saturation (tanh, at most ``MAX_DRIVE`` times) rounds
    off the dense peaks a limiter would have to flatten, and the limiter then keeps the
    ceiling. Music whose peaks the limiter can hold never reaches that stage.
    """
    out = _fade(audio, sample_rate)
    measured = integrated_loudness(out, sample_rate)
    if not math.isfinite(measured):
        return out
    ceiling = 10 ** (ceiling_dbtp / 20)
    most = min(MAX_GAIN_DB, ceiling_dbtp - true_peak_db(out) + MAX_LIMITING_DB)
    gain_db = min(target_lufs - measured, most)
    result, reached = out, -math.inf
    for _ in range(PASSES):
        result = _limit(out * np.float32(10 ** (gain_db / 20)), ceiling, sample_rate)
        loudness = integrated_loudness(result, sample_rate)
        miss, gained = target_lufs - loudness, loudness - reached
        reached = loudness
        if abs(miss) < 0.05 or gain_db >= most or gained < 0.05:  # there, or no further
            break
        gain_db = min(gain_db + miss, most)
    if target_lufs - reached > 0.1:
        result = _saturated(result, ceiling, target_lufs, sample_rate)
    return result


def _saturated(audio: np.ndarray, ceiling: float, target_lufs: float, rate: int) -> np.ndarray:
    """The least tanh drive (1 to ``MAX_DRIVE``) that brings ``audio`` to the target,
    found by bisection (loudness grows with the drive), then limited to the ceiling."""

    def driven(drive: float) -> np.ndarray:
        shaped = ceiling * np.tanh(np.float32(drive) * audio / np.float32(ceiling))
        return _limit(shaped.astype(np.float32), ceiling, rate)

    low, high = 1.0, MAX_DRIVE
    best = driven(high)
    if integrated_loudness(best, rate) <= target_lufs:
        return best  # as loud as it may get
    for _ in range(12):
        middle = (low + high) / 2
        candidate = driven(middle)
        loudness = integrated_loudness(candidate, rate)
        if abs(loudness - target_lufs) < 0.05:
            return candidate
        if loudness < target_lufs:
            low = middle
        else:
            high, best = middle, candidate
    return best
