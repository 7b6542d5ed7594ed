"""Spectrogram -> audio: quality and time of each phase-retrieval method, in one run.

Five signals made here (5.12 s, 44.1 kHz) each go through Riffusion's image (uint8,
power 0.25, inverted) and back with each method. For each method it prints the seconds
for a batch of three tracks (as the pipeline inverts them; wall clock and process CPU),
the spectral convergence of the mel spectrogram against the original's (the measure of
tests/pipeline/test_spectrogram.py) and the log-spectral distance in dB. Riffusion's
method and the default are timed twice, back to back, and the best run counts.

    python bench/phase.py [--methods NAME ...] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from pipeline import phase as P
from pipeline import spectrogram as S
from pipeline.config import PhaseMethod

T = np.arange(S.CLIP_SAMPLES) / S.SAMPLE_RATE
LENGTH = (S.CLIP_COLUMNS - 1) * S.HOP_LENGTH
LSD_FLOOR_DB = -80.0  # quieter mel bands count as this, so silence does not dominate


# --- the signals -------------------------------------------------------------------


def chord_with_vibrato() -> np.ndarray:
    """A major seventh-less chord, three harmonics each, 5.5 Hz vibrato of +-0.4 %."""
    vibrato = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * T)
    out = np.zeros_like(T)
    for f in (220.0, 277.18, 329.63, 440.0):
        phase = 2 * np.pi * np.cumsum(f * vibrato) / S.SAMPLE_RATE
        for harmonic, gain in ((1, 1.0), (2, 0.5), (3, 0.25)):
            out += gain * np.sin(harmonic * phase)
    return _normalise(out)


def sweep() -> np.ndarray:
    """A linear chirp from 100 Hz to 8 kHz."""
    return _normalise(np.sin(2 * np.pi * (100 * T + (8000 - 100) / (2 * T[-1]) * T**2)))


def noise_bursts() -> np.ndarray:
    """White noise gated on for 75 ms four times a second."""
    rng = np.random.default_rng(0)
    return _normalise(rng.standard_normal(len(T)) * ((T * 4) % 1 < 0.3))


def drum_and_bass() -> np.ndarray:
    """174 BPM: kick (pitch drop), snare (noise + body), eighth-note hats, a detuned saw bass."""
    rng = np.random.default_rng(1)
    out = np.zeros_like(T)
    beat = 60 / 174
    bar = 4 * beat

    def hit(start_s: float, sound: np.ndarray) -> None:
        i = int(start_s * S.SAMPLE_RATE)
        n = min(len(sound), len(out) - i)
        if n > 0:
            out[i : i + n] += sound[:n]

    t = np.arange(int(0.3 * S.SAMPLE_RATE)) / S.SAMPLE_RATE
    kick = np.sin(2 * np.pi * (50 * t + 80 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 12)
    t = np.arange(int(0.2 * S.SAMPLE_RATE)) / S.SAMPLE_RATE
    snare = (0.6 * rng.standard_normal(len(t)) + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(
        -t * 25
    )
    t = np.arange(int(0.05 * S.SAMPLE_RATE)) / S.SAMPLE_RATE
    hat = 0.3 * np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t * 80)
    for bar_start in np.arange(0, T[-1], bar):
        for beats, sound in ((0, kick), (1, snare), (2.5, kick), (3, snare)):
            hit(bar_start + beats * beat, sound)
        for eighth in range(8):
            hit(bar_start + eighth * beat / 2, hat)
    half_bar = int(bar / 2 * S.SAMPLE_RATE)
    for i, f in enumerate([55.0, 55.0, 65.41, 49.0] * 4):
        start, end = i * half_bar, min((i + 1) * half_bar, len(T))
        if start >= end:
            break
        t = np.arange(end - start) / S.SAMPLE_RATE
        saw = sum(
            np.sin(2 * np.pi * k * f * detune * t) / k
            for k in range(1, 12)
            for detune in (1.0, 1.006)
        )
        envelope = np.minimum(1, t * 50) * np.minimum(1, (t[-1] - t) * 50)
        out[start:end] += 0.25 * saw * envelope
    return _normalise(out)


def plucked_melody() -> np.ndarray:
    """Ten Karplus-Strong plucks, half a second apart, each ringing for 1.2 s."""
    rng = np.random.default_rng(2)
    out = np.zeros_like(T)
    notes = [392.0, 440.0, 493.88, 587.33, 493.88, 440.0, 392.0, 329.63, 293.66, 329.63]
    for i, f in enumerate(notes):
        start = int(i * 0.5 * S.SAMPLE_RATE)
        period = round(S.SAMPLE_RATE / f)
        ring = min(int(1.2 * S.SAMPLE_RATE), len(out) - start)
        buffer = rng.uniform(-1, 1, period)
        buffer -= buffer.mean()  # a string has no DC
        # the averaging loop, period samples at a time: each pass is one round trip
        passes = []
        for _ in range(-(-ring // period)):
            passes.append(buffer)
            buffer = 0.996 * 0.5 * (buffer + np.roll(buffer, -1))
        out[start : start + ring] += np.concatenate(passes)[:ring]
    return _normalise(out)


def _normalise(x: np.ndarray) -> np.ndarray:
    return (0.8 * x / np.abs(x).max()).astype(np.float32)


SIGNALS: dict[str, Callable[[], np.ndarray]] = {
    "chord": chord_with_vibrato,
    "sweep": sweep,
    "noise": noise_bursts,
    "d&b": drum_and_bass,
    "pluck": plucked_melody,
}


# --- the measures ------------------------------------------------------------------


def _mel(audio: np.ndarray) -> torch.Tensor:
    mel = S.mel_from_audio(torch.from_numpy(audio))[:, : S.CLIP_COLUMNS - 1]
    return mel / mel.max()


def spectral_convergence(original: np.ndarray, rebuilt: np.ndarray) -> float:
    a, b = _mel(original), _mel(rebuilt)
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(a))


def log_spectral_distance(original: np.ndarray, rebuilt: np.ndarray) -> float:
    floor = 10 ** (LSD_FLOOR_DB / 20)
    a, b = (20 * torch.log10(_mel(x).clamp_min(floor)) for x in (original, rebuilt))
    return float(((a - b) ** 2).mean(dim=0).sqrt().mean())


# --- the methods -------------------------------------------------------------------
# Each takes a batch of mel spectrograms (tracks, n_mels, frames) and returns waveforms.

Method = Callable[[torch.Tensor], torch.Tensor]


def _linear(mel: torch.Tensor) -> torch.Tensor:
    _, pinv = S._mel_matrices(str(mel.device))
    return torch.matmul(mel.transpose(-1, -2), pinv).transpose(-1, -2).clamp_min(0)


def ours(phase: PhaseMethod, n_iter: int) -> Method:
    return lambda mel: S.audio_from_mel(
        mel, phase=phase, n_iter=n_iter, generator=torch.Generator().manual_seed(0)
    )


def zero_start(n_iter: int) -> Method:
    def run(mel: torch.Tensor) -> torch.Tensor:
        linear = _linear(mel)
        return P._fast_griffin_lim(
            linear.to(torch.complex64), lambda _: linear, S.STFT, length=LENGTH, n_iter=n_iter
        )

    return run


def pghi_start(n_iter: int) -> Method:
    """PGHI's phase, then Griffin-Lim as Riffusion runs it (full size, linear magnitudes)."""

    def run(mel: torch.Tensor) -> torch.Tensor:
        linear = _linear(mel)
        rough = linear[..., :: S.STFT.stride, :]
        coarse = S.STFT.coarse
        audio = coarse.istft(torch.polar(rough, P.pghi_phase(rough, coarse)), LENGTH)
        start = torch.polar(linear, S.STFT.stft(audio).angle())
        return P._fast_griffin_lim(start, lambda _: linear, S.STFT, length=LENGTH, n_iter=n_iter)

    return run


def random_start_mel(n_iter: int) -> Method:
    """The default's coarse mel iterations and full-size step, from random phase, not PGHI's."""

    def random_phase(magnitude: torch.Tensor, grid: P.Grid) -> torch.Tensor:
        noise = torch.rand(magnitude.shape, generator=torch.Generator().manual_seed(0))
        return 2 * math.pi * noise

    def run(mel: torch.Tensor) -> torch.Tensor:
        pghi_phase = P.pghi_phase
        P.pghi_phase = random_phase  # the one thing that differs
        try:
            return S.audio_from_mel(mel, phase="pghi", n_iter=n_iter)
        finally:
            P.pghi_phase = pghi_phase

    return run


def coarse_linear(n_iter: int) -> Method:
    """Random phase, Griffin-Lim on linear magnitudes at the window's size only."""

    def run(mel: torch.Tensor) -> torch.Tensor:
        rough = _linear(mel)[..., :: S.STFT.stride, :]
        return P.griffin_lim(
            rough,
            S.STFT.coarse,
            length=LENGTH,
            n_iter=n_iter,
            generator=torch.Generator().manual_seed(0),
        )

    return run


BEFORE = "griffin-lim x32 (Riffusion, before)"
DEFAULT = "pghi x32 (default)"
METHODS: dict[str, Method] = {
    BEFORE: ours("griffin-lim", 32),
    "griffin-lim x64": ours("griffin-lim", 64),
    "zero phase + griffin-lim x32": zero_start(32),
    "pghi start + griffin-lim x31": pghi_start(31),
    "random start + coarse mel x32": random_start_mel(32),
    "pghi x16": ours("pghi", 16),
    DEFAULT: ours("pghi", 32),
    "pghi x64": ours("pghi", 64),
    # not run unless named: on these signals no better than x32 at five times its cost
    "random + coarse griffin-lim x150": coarse_linear(150),
}
RUN_BY_DEFAULT = list(METHODS)[:-1]


# --- the run -----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=RUN_BY_DEFAULT, choices=list(METHODS))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    originals = {name: make() for name, make in SIGNALS.items()}
    mels = {
        name: S.mel_from_image(S.image_from_audio(audio)).to(args.device)
        for name, audio in originals.items()
    }
    names = list(SIGNALS)
    timed, rest = names[:3], names[3:]  # three tracks, as the pipeline inverts a job's

    def run(label: str, batch: list[str]) -> tuple[float, float, torch.Tensor]:
        stacked = torch.stack([mels[n] for n in batch])
        _sync(args.device)
        wall, cpu = time.perf_counter(), time.process_time()
        audio = METHODS[label](stacked)
        _sync(args.device)
        return time.perf_counter() - wall, time.process_time() - cpu, audio

    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    scores: dict[str, tuple[list[float], list[float]]] = {}
    for label in args.methods:
        print(f"running {label} ...", file=sys.stderr, flush=True)
        wall, cpu, audio = run(label, timed)
        walls[label], cpus[label] = [wall], [cpu]
        rebuilt = dict(zip(timed, audio, strict=True))
        rebuilt.update(zip(rest, run(label, rest)[2], strict=True))
        scores[label] = (
            [spectral_convergence(originals[n], rebuilt[n].cpu().numpy()) for n in names],
            [log_spectral_distance(originals[n], rebuilt[n].cpu().numpy()) for n in names],
        )
    # the comparison that decides the default, timed once more, back to back: other
    # work on a shared machine slows whichever runs at the time
    pair = [label for label in (BEFORE, DEFAULT) if label in args.methods]
    for label in pair:
        wall, cpu, _ = run(label, timed)
        walls[label].append(wall)
        cpus[label].append(cpu)

    print(_device_line(args.device))
    print(f"signals: {', '.join(names)} ({S.CLIP_SAMPLES / S.SAMPLE_RATE:.2f} s, 44.1 kHz)")
    print("seconds: three tracks in one batch, wall clock and process CPU, best of the runs")
    print("sc: spectral convergence of the mel spectrogram | lsd: log-spectral distance, dB")
    print(
        f"{'method':37s} {'wall s':>6s} {'cpu s':>6s}  sc "
        + " ".join(f"{n:>5s}" for n in names)
        + "  | lsd "
        + " ".join(f"{n:>5s}" for n in names)
    )
    for label in args.methods:
        sc, lsd = scores[label]
        print(
            f"{label:37s} {min(walls[label]):6.2f} {min(cpus[label]):6.2f}     "
            + " ".join(f"{v:5.3f}" for v in sc)
            + "  |     "
            + " ".join(f"{v:5.2f}" for v in lsd)
        )
    if len(pair) == 2:
        wall_ratio = min(walls[DEFAULT]) / min(walls[BEFORE])
        cpu_ratio = min(cpus[DEFAULT]) / min(cpus[BEFORE])
        print(f"{DEFAULT} / {BEFORE}: wall {wall_ratio:.2f}x, cpu {cpu_ratio:.2f}x")


def _device_line(device: str) -> str:
    if device.startswith("cuda"):
        return f"device: {torch.cuda.get_device_name(0)}"
    return f"device: CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
