"""Loudness of the encoded tracks: before (peak-normalised to 0.9), with ffmpeg's loudnorm
(one pass, and two passes with the measured values and linear=true) and with IMMU's
mastering (``pipeline.loudness``), on the MP3 and on the feed's MP4.

Every figure is read off the encoded file by ffmpeg's EBU R128 meter
(``ebur128=peak=true``): integrated loudness (LUFS) and true peak (dBTP). The waveforms:
the five signals of ``bench/phase.py`` as made; the same through Riffusion's image and
the pipeline's audio stage (as a track of that music comes out of IMMU); and the three
tracks of several photos composed by the tiny random models. For each photo it prints
the spread of the three tracks' loudness (what a person hears choosing between them).

    python bench/loudness.py [--photos N] [--no-loudnorm]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from PIL import Image, ImageDraw

from pipeline import spectrogram as S
from pipeline.chain import Pipeline, PipelineConfig
from pipeline.composition import ComposeOptions
from pipeline.encoder import MP3_BITRATE, Encoder, wav_bytes
from pipeline.loudness import TARGET_LUFS
from pipeline.weights import write_tiny_models

FFMPEG = os.environ.get("IMMU_FFMPEG") or "ffmpeg"
LOUDNORM = "loudnorm=I=-14:TP=-1.5:LRA=11"
NULL = ["-f", "null", "-"]  # decode, write nothing
ROOT = Path(__file__).resolve().parent.parent

Figure = tuple[float, float]  # LUFS, dBTP


def meter(path: Path) -> Figure:
    """ffmpeg's EBU R128 meter, its summary parsed: integrated LUFS and true peak dBTP."""
    err = subprocess.run(
        [FFMPEG, "-nostats", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true", *NULL],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    summary = err[err.rfind("Summary:") :]
    loudness = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if not (loudness and peak):
        raise RuntimeError(f"no ebur128 summary:\n{err[-500:]}")
    return float(loudness.group(1)), float(peak.group(1))


def _mp3(wav: Path, out: Path, audio_filter: str | None = None) -> str:
    """A plain MP3 of the WAV, as IMMU encoded before, through ``audio_filter`` if given;
    returns ffmpeg's stderr (loudnorm prints its JSON there)."""
    filters = ["-af", audio_filter, "-ar", str(S.SAMPLE_RATE)] if audio_filter else []
    return subprocess.run(
        [FFMPEG, "-y", "-hide_banner", "-i", str(wav), *filters, *_lame(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stderr


def _lame(out: Path) -> list[str]:
    return ["-c:a", "libmp3lame", "-b:a", MP3_BITRATE, str(out)]


def _json(stderr: str) -> dict[str, str]:
    found: dict[str, str] = json.loads(stderr[stderr.rfind("{") :])
    return found


def measure(audio: np.ndarray, tmp: Path, cover: bytes, loudnorm: bool) -> dict[str, object]:
    wav, out = tmp / "in.wav", tmp / "out.mp3"
    wav.write_bytes(wav_bytes(audio))
    row: dict[str, object] = {}
    _mp3(wav, out)
    row["before"] = meter(out)
    if loudnorm:
        _mp3(wav, out, LOUDNORM)
        row["loudnorm 1 pass"] = meter(out)
        first = _json(
            subprocess.run(
                [
                    FFMPEG,
                    "-hide_banner",
                    "-i",
                    str(wav),
                    "-af",
                    f"{LOUDNORM}:print_format=json",
                    *NULL,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stderr
        )
        second = (
            f"{LOUDNORM}:measured_I={first['input_i']}:measured_TP={first['input_tp']}"
            f":measured_LRA={first['input_lra']}:measured_thresh={first['input_thresh']}"
            f":offset={first['target_offset']}:linear=true:print_format=json"
        )
        kind = _json(_mp3(wav, out, second))["normalization_type"]
        row["loudnorm 2 pass"] = meter(out)
        row["2 pass mode"] = kind
    encoder = Encoder(FFMPEG)
    mp3 = encoder.mp3(audio, cover_jpeg=cover, title="bench", genre="bench")
    out.write_bytes(mp3)
    row["IMMU mp3"] = meter(out)
    mp4 = tmp / "out.mp4"
    mp4.write_bytes(encoder.mp4(mp3, cover_jpeg=cover))
    row["IMMU mp4"] = meter(mp4)
    return row


def photos(count: int) -> list[bytes]:
    """The example photo, then made ones: gradients and shapes in different colours."""
    made = [(ROOT / "examples" / "sunset.jpg").read_bytes()]
    rng = np.random.default_rng(3)
    while len(made) < count:
        image = Image.new("RGB", (320, 240), tuple(int(v) for v in rng.integers(0, 255, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = (int(v) for v in rng.integers(0, 240, 2))
            colour = tuple(int(v) for v in rng.integers(0, 255, 3))
            draw.ellipse((x, y, x + 80, y + 60), fill=colour)
        out = io.BytesIO()
        image.save(out, format="JPEG")
        made.append(out.getvalue())
    return made


class _Recording(Encoder):
    """The pipeline's encoder, keeping each waveform it is given."""

    def __init__(self, binary: str) -> None:
        super().__init__(binary)
        self.waves: dict[str, np.ndarray] = {}  # by title: "IMMU 1 - ..." (threads finish
        # in any order)

    def mp3(self, audio: np.ndarray, *, cover_jpeg: bytes, title: str, genre: str) -> bytes:
        self.waves[title] = audio.copy()
        return super().mp3(audio, cover_jpeg=cover_jpeg, title=title, genre=genre)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=3, help="photos composed, 3 tracks each")
    parser.add_argument("--no-loudnorm", action="store_true", help="skip loudnorm's columns")
    args = parser.parse_args()
    import phase  # bench/phase.py's signals

    cover = (ROOT / "examples" / "sunset.jpg").read_bytes()
    waves: dict[str, np.ndarray] = {f"{n} (made)": make() for n, make in phase.SIGNALS.items()}
    images = [S.image_from_audio(a) for a in list(waves.values())]
    waves["d&b, first 2 s (made)"] = waves["d&b (made)"][: 2 * S.SAMPLE_RATE]
    for name, audio in zip(phase.SIGNALS, S.audio_from_images(images), strict=True):
        waves[f"{name} (image->audio)"] = audio
    groups: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="immu-loudness-") as tmp:
        print("composing with the tiny models ...", file=sys.stderr, flush=True)
        env = write_tiny_models(Path(tmp) / "models")
        pipeline = Pipeline(
            PipelineConfig(
                caption_model=env["IMMU_CAPTION_MODEL"],
                music_model=env["IMMU_MUSIC_MODEL"],
                device="cpu",
                steps=2,
                griffin_lim_iters=8,
            )
        )
        recording = _Recording(FFMPEG)
        pipeline.encoder = recording
        for k, photo in enumerate(photos(args.photos)):
            recording.waves.clear()
            pipeline.compose(photo, ComposeOptions(seed=k))
            tracks = [recording.waves[title] for title in sorted(recording.waves)]
            names = [f"photo {k + 1} track {i + 1}" for i in range(len(tracks))]
            waves.update(zip(names, tracks, strict=True))
            groups.append(names)
        rows = {}
        for name, audio in waves.items():
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            rows[name] = measure(audio, Path(tmp), cover, not args.no_loudnorm)

    columns = ["before", "IMMU mp3", "IMMU mp4"]
    if not args.no_loudnorm:
        columns[1:1] = ["loudnorm 1 pass", "loudnorm 2 pass"]
    print(f"machine: {platform.machine()} CPU, {torch.get_num_threads()} threads; {_ffmpeg()}")
    print(f"target {TARGET_LUFS:.0f} LUFS +-0.5, true peak <= -1.0 dBTP; each cell LUFS / dBTP")
    print(f"{'waveform':28s}" + "".join(f"{c:>18s}" for c in columns))
    for name, row in rows.items():
        cells = "".join(f"{_cell(row[c]):>18s}" for c in columns)  # type: ignore[arg-type]
        mode = f"  (2 pass: {row['2 pass mode']})" if "2 pass mode" in row else ""
        print(f"{name:28s}{cells}{mode}")
    print("spread of the three tracks' loudness, LU (max - min):")
    for names in groups:
        spreads = "  ".join(
            f"{c} {_spread([rows[n][c] for n in names]):.1f}"  # type: ignore[misc]
            for c in columns
        )
        print(f"  {names[0].rsplit(' track', 1)[0]}: {spreads}")
    every = [n for names in groups for n in names]
    spreads = "  ".join(
        f"{c} {_spread([rows[n][c] for n in every]):.1f}"  # type: ignore[misc]
        for c in columns
    )
    print(f"  all {len(every)} tracks of the {len(groups)} photos (the feed): {spreads}")
    for column in ("IMMU mp3", "IMMU mp4"):
        figures: list[Figure] = [row[column] for row in rows.values()]  # type: ignore[misc]
        inside = sum(abs(i - TARGET_LUFS) <= 0.5 for i, _ in figures)
        print(
            f"{column}: {inside}/{len(figures)} within +-0.5 LU, loudness "
            f"{min(i for i, _ in figures):.1f} to {max(i for i, _ in figures):.1f} LUFS, "
            f"highest true peak {max(p for _, p in figures):.1f} dBTP"
        )


def _cell(figure: Figure) -> str:
    return f"{figure[0]:6.1f} / {figure[1]:5.1f}"


def _spread(figures: list[Figure]) -> float:
    values = [i for i, _ in figures]
    return max(values) - min(values)


def _ffmpeg() -> str:
    first = subprocess.run([FFMPEG, "-version"], capture_output=True, text=True).stdout
    return first.splitlines()[0].split(" Copyright")[0] if first else "ffmpeg ?"


if __name__ == "__main__":
    main()
