"""Phase retrieval: sound for a magnitude spectrogram that has lost its phase.

Riffusion's images hold mel magnitudes only. Two ways back to a waveform:

- ``griffin-lim`` (Riffusion's own): the pseudo-inverse of the mel filters guesses the
  linear magnitudes, and fast Griffin-Lim (Perraudin et al. 2013, momentum 0.99) starts
  from random phase and iterates at the full, zero-padded FFT size.
- ``pghi`` (the default): the phase starts from the magnitudes' own slopes (Phase Gradient
  Heap Integration, Průša et al. 2017, integrated frame by frame in the heap order of its
  real-time variant), then fast Griffin-Lim refines it where an iteration is cheap: at
  the window's own FFT size (a quarter of the bins), projecting onto the *mel*
  spectrogram the image holds rather than onto the pseudo-inverse's smooth guess at the
  linear one. A few last iterations at full size settle the narrow low-frequency bins.

Everything runs in ``torch`` on the magnitudes' device except PGHI's integration, whose
sequential scans run in numpy on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

MOMENTUM = 0.99  # fast Griffin-Lim's (and Riffusion's)
# ltfat: a Hann window of length L is close to the Gaussian exp(-pi t^2 / (0.25645 L^2)),
# whose STFT phase gradients follow from the log-magnitude's gradients.
HANN_GAUSSIAN_LAMBDA = 0.25645
# Below this (11 nats, about 95 dB under the peak) magnitudes are silence to PGHI: their
# slopes are noise, so no phase is integrated through them (ltfat's pghi uses the same).
SILENCE_NATS = 11.0
# ``pghi`` spends a budget of N full-size iterations' time: its start costs about one,
# the closing full-size step about two, and a coarse iteration (the window's own FFT
# size, mel matching included) about a fifth on one thread, a quarter on two; counted as
# a third to leave a margin for busy CPUs, where small FFTs parallelise worse
# (bench/phase.py measures both methods).
START_COST = 1
FINISH_COST = 2
FINISH_FROM = 8  # below this budget the closing step is not worth its time
COARSE_PER_FULL = 3


@dataclass(frozen=True)
class Grid:
    """A centred Hann STFT (torch's conventions): hop, window length, FFT size in samples."""

    hop: int
    window: int
    n_fft: int

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.stft(
            audio,
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.window,
            window=_hann(self.window, str(audio.device)),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        return torch.istft(
            spec,
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.window,
            window=_hann(self.window, str(spec.device)),
            center=True,
            length=length,
        )

    @property
    def stride(self) -> int:
        """Bins of this grid per bin of ``coarse`` (the zero-padding factor)."""
        if self.n_fft % self.window:
            raise ValueError(f"n_fft {self.n_fft} is not a multiple of the window {self.window}")
        return self.n_fft // self.window

    @property
    def coarse(self) -> Grid:
        """The same frames without zero padding: their magnitudes are every ``stride``-th bin."""
        return Grid(hop=self.hop, window=self.window, n_fft=self.window)


@lru_cache(maxsize=8)
def _hann(length: int, device: str) -> torch.Tensor:
    return torch.hann_window(length, periodic=True, device=device)


class MelMap:
    """A mel filterbank both ways, sparse: linear magnitudes -> mel, mel gains -> bins."""

    def __init__(self, filterbank: torch.Tensor) -> None:
        """``filterbank``: (n_freqs, n_mels), the weight of each bin in each mel band."""
        self.n_freqs, self.n_mels = filterbank.shape
        self._to_mel = filterbank.T.contiguous().to_sparse()
        cover = filterbank.sum(1, keepdim=True)
        # a bin takes the gains of the bands it belongs to, weighted; a bin in no band
        # (above the top band) gets none, as the pseudo-inverse gives it nothing either
        self._to_bins = (filterbank / cover.clamp_min(1e-12)).to_sparse()

    def mel(self, magnitude: torch.Tensor) -> torch.Tensor:
        """(batch, n_freqs, frames) -> (batch, n_mels, frames)."""
        return _apply(self._to_mel, magnitude)

    def spread(self, gains: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) -> (batch, n_freqs, frames)."""
        return _apply(self._to_bins, gains)

    def match(self, magnitude: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``magnitude`` rescaled band by band so that its mel spectrogram moves to ``target``.

        Multiplicative, so the fine structure within a band (which a consistent
        spectrogram has and the pseudo-inverse smooths away) stays.
        """
        floor = 1e-7 * target.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
        gains = target / self.mel(magnitude).clamp_min(floor)
        return magnitude * self.spread(gains)


def _apply(matrix: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    batch, rows, frames = values.shape
    flat = values.transpose(0, 1).reshape(rows, batch * frames)
    out = torch.sparse.mm(matrix, flat)
    return out.reshape(-1, batch, frames).transpose(0, 1)


def coarse_filterbank(filterbank: torch.Tensor, stride: int) -> torch.Tensor:
    """The filterbank for magnitudes known only at every ``stride``-th bin.

    Between known bins the magnitude is taken as linear, so each known bin carries the
    filters' weights of its neighbours by a triangle of half-width ``stride``.
    """
    n_freqs = filterbank.shape[0]
    kept = torch.arange(0, n_freqs, stride, device=filterbank.device)
    out = torch.zeros(len(kept), filterbank.shape[1], device=filterbank.device)
    for offset in range(-stride + 1, stride):
        bins = kept + offset
        inside = (bins >= 0) & (bins < n_freqs)
        weight = 1.0 - abs(offset) / stride
        out += weight * filterbank[bins.clamp(0, n_freqs - 1)] * inside[:, None]
    return out


def _fast_griffin_lim(
    start: torch.Tensor,
    target: Callable[[torch.Tensor], torch.Tensor],
    grid: Grid,
    *,
    length: int,
    n_iter: int,
    momentum: float = MOMENTUM,
) -> torch.Tensor:
    """Fast Griffin-Lim from the complex spectrogram ``start``; ``target(rebuilt)`` gives
    the magnitudes each iteration projects onto. Returns the waveform."""
    spec = start
    previous = torch.zeros_like(spec)
    keep = momentum / (1 + momentum)
    # in place and fused (sgn is z/|z|): at full size these are ~100 MB each for three tracks
    for _ in range(n_iter):
        rebuilt = grid.stft(grid.istft(spec, length))
        magnitude = target(rebuilt)
        spec = torch.sgn(previous.mul_(-keep).add_(rebuilt)).mul_(magnitude)
        previous = rebuilt
    return grid.istft(spec, length)


def griffin_lim(
    magnitude: torch.Tensor,
    grid: Grid,
    *,
    length: int,
    n_iter: int,
    momentum: float = MOMENTUM,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Riffusion's: fast Griffin-Lim on linear magnitudes (..., n_freqs, frames), random start."""
    phase = torch.rand(magnitude.shape, generator=generator, device="cpu").to(magnitude.device)
    start = torch.polar(magnitude, phase * 2 * math.pi)
    return _fast_griffin_lim(
        start, lambda _: magnitude, grid, length=length, n_iter=n_iter, momentum=momentum
    )


def pghi_griffin_lim(
    mel: torch.Tensor,
    filterbank: torch.Tensor,
    magnitude: torch.Tensor,
    grid: Grid,
    *,
    length: int,
    n_iter: int,
) -> torch.Tensor:
    """PGHI's start, then mel-matching fast Griffin-Lim at the window's size, then one
    full-size step.

    ``mel`` (batch, n_mels, frames) is the target; ``magnitude`` its linear guess on
    ``grid`` (the pseudo-inverse); ``n_iter`` the time budget in full-size iterations.
    """
    coarse = grid.coarse
    coarse_iters, finish = pghi_split(n_iter)
    # 1. the start: every stride-th bin of the zero-padded grid is the coarse grid's
    rough = magnitude[..., :: grid.stride, :]
    start = torch.polar(rough, pghi_phase(rough, coarse))
    # 2. cheap iterations at the window's own size, matching the mel spectrogram
    coarse_mel = MelMap(coarse_filterbank(filterbank, grid.stride))
    audio = _fast_griffin_lim(
        start,
        lambda rebuilt: coarse_mel.match(rebuilt.abs(), mel),
        coarse,
        length=length,
        n_iter=coarse_iters,
    )
    if not finish:
        return audio
    # 3. one step at full size: the narrow low mel bands need its 2.5 Hz bins
    spec = grid.stft(audio)
    size = spec.abs()
    matched = MelMap(filterbank).match(size, mel)
    return grid.istft(spec.mul_(matched.div_(size.clamp_min_(1e-30))), length)


def pghi_split(n_iter: int) -> tuple[int, bool]:
    """A budget of ``n_iter`` full-size iterations -> (coarse iterations, finish at full size)."""
    finish = n_iter >= FINISH_FROM
    spare = n_iter - START_COST - (FINISH_COST if finish else 0)
    return max(1, spare * COARSE_PER_FULL), finish


def pghi_phase(magnitude: torch.Tensor, grid: Grid) -> torch.Tensor:
    """PGHI (Průša et al. 2017): the phase of (batch, n_freqs, frames) magnitudes on ``grid``.

    The phase's slopes follow from the log-magnitude's (exactly so for a Gaussian window):
    along time, the instantaneous frequency; along frequency, the local group delay.
    PGHI integrates them from the loudest bins outward, where the slopes are reliable.
    Here the real-time variant's order (frame by frame; each bin takes its phase from
    the previous frame or along a frequency path, whichever passes louder bins) is
    found by two scans per frame instead of a heap.
    """
    mag = magnitude.detach().float().cpu().numpy()
    _, n_freqs, frames = mag.shape
    lam = HANN_GAUSSIAN_LAMBDA * grid.window**2
    peak = mag.max(axis=(1, 2), keepdims=True)
    silence = peak * math.exp(-SILENCE_NATS)
    logs = np.log(np.maximum(mag, np.maximum(silence, 1e-30)))
    bins = np.arange(n_freqs, dtype=np.float64)[:, None]
    # phase advance per frame at each bin, and phase step per bin in each frame; the
    # pi per bin is torch's frame-start phase reference (the window's centre is n_fft/2)
    per_frame = 2 * math.pi * grid.hop * bins / grid.n_fft + (
        grid.hop * grid.n_fft / lam
    ) * np.gradient(logs, axis=1)
    per_bin = math.pi - lam / (grid.hop * grid.n_fft) * np.gradient(logs, axis=2)
    along_freq = _cumulative_trapezoid(per_bin, axis=1)
    steps = (per_frame[:, :, 1:] + per_frame[:, :, :-1]) / 2
    loud = np.where(mag >= silence, mag, 0.0)
    anchor = _heap_order_anchors(loud)  # (batch, n_freqs, frames)
    offset = along_freq - np.take_along_axis(along_freq, anchor, axis=1)
    # frame by frame: the anchor's phase is its own last phase plus its time step, and
    # every other bin follows its anchor along frequency
    anchor_t = np.ascontiguousarray(anchor.transpose(2, 0, 1))
    offset_t = np.ascontiguousarray(offset.transpose(2, 0, 1))
    steps_t = np.ascontiguousarray(steps.transpose(2, 0, 1))
    phase = np.empty((frames, *mag.shape[:2]), dtype=np.float64)
    current = offset_t[0]
    phase[0] = current
    for n in range(1, frames):
        current = np.mod(current + steps_t[n - 1], 2 * math.pi)
        current = np.take_along_axis(current, anchor_t[n], axis=1) + offset_t[n]
        phase[n] = current
    out = torch.from_numpy(phase.transpose(1, 2, 0).astype(np.float32))
    return out.to(magnitude.device)


def _cumulative_trapezoid(values: np.ndarray, axis: int) -> np.ndarray:
    mids = (
        np.take(values, range(1, values.shape[axis]), axis=axis)
        + np.take(values, range(values.shape[axis] - 1), axis=axis)
    ) / 2
    out = np.zeros_like(values)
    index = [slice(None)] * values.ndim
    index[axis] = slice(1, None)
    out[tuple(index)] = np.cumsum(mids, axis=axis)
    return out


def _heap_order_anchors(loud: np.ndarray) -> np.ndarray:
    """For each bin, the bin of the same frame whose time step its phase comes from.

    In the real-time PGHI heap, a bin of frame n is reached either from itself in frame
    n-1 (at that bin's loudness there) or from a neighbour in frame n, through a path
    whose quietest bin sets the level; the loudest way wins. In one dimension the
    loudest path runs straight, so a scan up and a scan down find it. A frame after
    silence starts from its loudest bin, as PGHI's first frame does.
    """
    batch, n_freqs, frames = loud.shape
    now = np.ascontiguousarray(loud.transpose(1, 0, 2).reshape(n_freqs, batch * frames))
    before = np.zeros_like(now)
    for b in range(batch):
        cols = slice(b * frames, (b + 1) * frames)
        before[:, cols][:, 1:] = now[:, cols][:, :-1]
    quiet = before.max(axis=0) <= 0
    loudest = now.argmax(axis=0)
    before[loudest[quiet], np.flatnonzero(quiet)] = np.inf
    up_level, up_from = _scan(now, before, range(n_freqs))
    down_level, down_from = _scan(now, before, range(n_freqs - 1, -1, -1))
    anchor = np.where(down_level > up_level, down_from, up_from)
    return anchor.reshape(n_freqs, batch, frames).transpose(1, 0, 2)


def _scan(now: np.ndarray, before: np.ndarray, order: range) -> tuple[np.ndarray, np.ndarray]:
    level = np.empty_like(now)
    source = np.empty(now.shape, dtype=np.int64)
    last = -1
    for m in order:
        if last < 0:
            level[m], source[m] = before[m], m
        else:
            through = np.minimum(level[last], now[last])
            step = through > before[m]
            level[m] = np.where(step, through, before[m])
            source[m] = np.where(step, source[last], m)
        last = m
    return level, source
