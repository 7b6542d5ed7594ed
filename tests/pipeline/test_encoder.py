"""The encoder runs the ffmpeg it is given (IMMU_FFMPEG), or says clearly that it cannot."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.encoder import Encoder, decode_audio, probe_duration
from pipeline.errors import EncodeError
from pipeline.spectrogram import SAMPLE_RATE

TONE = (0.5 * np.sin(2 * np.pi * 440 * np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)


def _real_ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")  # a host without ffmpeg
    return str(imageio_ffmpeg.get_ffmpeg_exe())


@pytest.fixture()
def recording_ffmpeg(tmp_path: Path) -> tuple[str, Path]:
    """An ffmpeg at a path of our choosing that notes each call, then runs the real one."""
    calls = tmp_path / "calls.txt"
    wrapper = tmp_path / "bin" / "my-ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexec "{_real_ffmpeg()}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), calls


@pytest.mark.parametrize("kind", ["missing", "a directory", "not a program"])
def test_an_unusable_ffmpeg_path_is_one_clear_error(tmp_path: Path, kind: str) -> None:
    binary = {
        "missing": tmp_path / "nowhere" / "ffmpeg",
        "a directory": tmp_path,
        "not a program": tmp_path / "notes.txt",
    }[kind]
    (tmp_path / "notes.txt").write_text("not ffmpeg")
    with pytest.raises(EncodeError) as caught:
        Encoder(str(binary)).mp3(TONE, cover_jpeg=b"", title="t", genre="g")
    message = str(caught.value)
    assert str(binary) in message and "IMMU_FFMPEG" in message
    with pytest.raises(EncodeError, match="IMMU_FFMPEG"):
        probe_duration(tmp_path / "x.mp3", binary=str(binary))


@pytest.fixture()
def cover(photo_bytes: bytes) -> bytes:
    from pipeline.photo import clean_jpeg, load_photo

    return clean_jpeg(load_photo(photo_bytes))


def test_the_configured_ffmpeg_is_the_one_that_runs(
    recording_ffmpeg: tuple[str, Path], cover: bytes
) -> None:
    binary, calls = recording_ffmpeg
    encoder = Encoder(binary)
    mp3 = encoder.mp3(TONE, cover_jpeg=cover, title="IMMU 1 - jazz", genre="jazz")
    assert mp3[:3] == b"ID3"
    mp4 = encoder.mp4(mp3, cover_jpeg=cover)
    assert mp4[4:8] == b"ftyp"
    # the MP3, then the MP4's duration read and its encode: all through our binary
    assert len(calls.read_text().splitlines()) == 3


def test_the_duration_comes_from_ffmpeg_alone(
    recording_ffmpeg: tuple[str, Path], tmp_path: Path, cover: bytes
) -> None:
    binary, _ = recording_ffmpeg
    mp3 = tmp_path / "tone.mp3"
    mp3.write_bytes(Encoder(binary).mp3(TONE, cover_jpeg=cover, title="t", genre="g"))
    assert probe_duration(mp3, binary=binary) == pytest.approx(2.0, abs=0.06)


def test_the_setting_reaches_the_pipeline(
    recording_ffmpeg: tuple[str, Path], tiny_config, photo_bytes: bytes, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from bot.settings import Settings
    from pipeline.chain import Pipeline

    binary, calls = recording_ffmpeg
    monkeypatch.setenv("IMMU_FFMPEG", binary)
    assert Settings().pipeline_config().ffmpeg == binary
    pipeline = Pipeline(dataclasses.replace(tiny_config, ffmpeg=binary))
    composition = pipeline.compose(photo_bytes)
    assert all(track.mp3[:3] == b"ID3" for track in composition.tracks)
    assert len(calls.read_text().splitlines()) == 3  # one encode per track


def test_a_hung_ffmpeg_ends_with_a_clear_error(tmp_path: Path) -> None:
    """A stuck encode must not hold a post (and its job's lock) for ever."""
    hung = tmp_path / "ffmpeg"
    hung.write_text("#!/bin/sh\nexec sleep 30\n")
    hung.chmod(0o755)
    encoder = Encoder(str(hung), timeout_s=0.5)
    with pytest.raises(EncodeError, match="longer than"):
        encoder.mp3(np.zeros(4410, dtype=np.float32), cover_jpeg=b"", title="t", genre="g")


# --- loudness: every track at -14 LUFS, true peak under -1 dBTP, no click -----------

CLIP = np.arange(int(5.12 * SAMPLE_RATE)) / SAMPLE_RATE  # one Riffusion clip's length


def _quiet_sine() -> np.ndarray:
    return 0.02 * np.sin(2 * np.pi * 440 * CLIP)


def _loud_chord() -> np.ndarray:
    out = sum(
        gain * np.sin(2 * np.pi * harmonic * f * CLIP)
        for f in (220.0, 277.18, 329.63, 440.0)
        for harmonic, gain in ((1, 1.0), (2, 0.5), (3, 0.25))
    )
    return 0.99 * out / np.abs(out).max()


def _noise_bursts() -> np.ndarray:
    """White noise (uniform, as a hat or a shaker) on for 75 ms four times a second."""
    noise = np.random.default_rng(0).uniform(-0.9, 0.9, len(CLIP))
    return noise * ((CLIP * 4) % 1 < 0.3)


def _gaussian_noise_bursts() -> np.ndarray:
    """Its true peak stands about 15 dB over its loudness: -14 LUFS under -1 dBTP leaves
    room for 13, more than a limiter can take off noise; the saturation after it must."""
    noise = np.random.default_rng(0).standard_normal(len(CLIP))
    return 0.3 * noise * ((CLIP * 4) % 1 < 0.3)


METER = ["-af", "ebur128=peak=true", "-f", "null", "-"]


def _meter(ffmpeg_binary: str, path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) from ffmpeg's own EBU R128 meter."""
    result = subprocess.run(
        [ffmpeg_binary, "-nostats", "-hide_banner", "-i", str(path), *METER],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = result.stderr[result.stderr.rfind("Summary:") :]
    loudness = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    assert loudness and peak, summary
    return float(loudness.group(1)), float(peak.group(1))


def _rms_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(max(float(np.sqrt(np.mean(samples**2))), 1e-9)))


@pytest.mark.parametrize(
    "signal",
    [_quiet_sine, _loud_chord, _noise_bursts, _gaussian_noise_bursts],
    ids=lambda f: f.__name__[1:],
)
def test_every_track_is_at_minus_14_lufs_under_minus_1_dbtp_without_a_click(
    signal, cover: bytes, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    binary = _real_ffmpeg()
    encoder = Encoder(binary)
    mp3 = tmp_path / "track.mp3"
    mp3.write_bytes(
        encoder.mp3(signal().astype(np.float32), cover_jpeg=cover, title="t", genre="g")
    )
    mp4 = tmp_path / "track.mp4"
    mp4.write_bytes(encoder.mp4(mp3.read_bytes(), cover_jpeg=cover))
    for encoded in (mp3, mp4):
        loudness, peak = _meter(binary, encoded)
        assert loudness == pytest.approx(-14.0, abs=0.5), encoded.name
        assert peak <= -1.0, encoded.name
    audio = decode_audio(mp3, binary=binary)
    ms = SAMPLE_RATE // 1000
    assert _rms_db(audio[:ms]) < -40.0  # it starts from silence
    assert _rms_db(audio[-ms:]) < -40.0  # and ends in it
