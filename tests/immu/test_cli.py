"""``immu`` as a person runs it: real subprocesses, tiny models, real ffmpeg."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.paths import EXAMPLE_PHOTO, ROOT


def _immu(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "immu.cli", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("cli-tiny")
    result = _immu("models", "tiny", str(folder / "models"))
    assert result.returncode == 0, result.stderr
    assert "noise" in result.stderr
    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert Path(env["IMMU_CAPTION_MODEL"]).is_dir() and Path(env["IMMU_MUSIC_MODEL"]).is_dir()
    assert Path(env["IMMU_SAFETY_MODEL"]).is_dir()  # the photo classifier of moderation=auto
    return env


def test_compose_writes_three_mp3s_pngs_and_json(tiny_env: dict[str, str], tmp_path: Path) -> None:
    result = _immu("compose", str(EXAMPLE_PHOTO), "-o", str(tmp_path), "--seed", "5", env=tiny_env)
    assert result.returncode == 0, result.stderr
    for i in (1, 2, 3):
        assert (tmp_path / f"track-{i}.mp3").stat().st_size > 10_000
        assert Image.open(tmp_path / f"track-{i}.png").size == (512, 512)
    summary = json.loads((tmp_path / "composition.json").read_text())
    assert len(summary["captions"]) == 3 and len(summary["tracks"]) == 3
    assert summary["brief"]["source"] == "offline"  # no language model configured
    assert "captions:" in result.stdout and "wrote" in result.stdout
    # progress is shown while it runs
    for stage in ("captioning", "writing the brief", "composing", "encoding"):
        assert stage in result.stderr


@pytest.mark.parametrize(
    "make",
    [
        lambda d: d,  # a directory
        lambda d: (d / "empty.jpg", (d / "empty.jpg").write_bytes(b""))[0],
        lambda d: (d / "note.png", (d / "note.png").write_text("just text"))[0],
        lambda d: (d / "cut.jpg", (d / "cut.jpg").write_bytes(EXAMPLE_PHOTO.read_bytes()[:3000]))[
            0
        ],
        lambda d: d / "missing.jpg",
    ],
    ids=["directory", "zero-bytes", "text", "truncated", "missing"],
)
def test_bad_input_is_one_line_and_exit_2(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # no models are configured here: bad input is refused before any model loads
    result = _immu("compose", str(make(tmp_path)), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("immu: ")


def test_a_huge_image_is_refused(tmp_path: Path) -> None:
    from tests.support.images import png_header_only

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(30_000, 30_000))
    result = _immu("compose", str(bomb))
    assert result.returncode == 2 and "MP" in result.stderr and "Traceback" not in result.stderr


def test_converters_round_trip_a_wav(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=1000:duration=8", str(wav)],
        check=True,
    )
    png, back = tmp_path / "tone.png", tmp_path / "back.wav"
    assert _immu("audio-to-image", str(wav), str(png), "--start", "1").returncode == 0
    assert Image.open(png).size == (512, 512)
    result = _immu("image-to-audio", str(png), str(back), env={"IMMU_GRIFFIN_LIM_ITERS": "4"})
    assert result.returncode == 0, result.stderr
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=sample_rate",
         str(back)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "sample_rate=44100" in probe and "duration=5.1" in probe


def test_image_to_audio_inverts_with_the_phase_setting(tmp_path: Path) -> None:
    from pipeline.spectrogram import audio_from_images, image_from_audio

    t = np.arange(44_100 * 5) / 44_100
    png = tmp_path / "chord.png"
    image_from_audio(
        np.stack([np.sin(2 * np.pi * f * t) for f in (220.0, 330.0)]).sum(axis=0) / 3
    ).save(png)
    heard = {}
    for phase in ("pghi", "griffin-lim"):
        out = tmp_path / f"{phase}.wav"
        env = {"IMMU_GRIFFIN_LIM_ITERS": "4", "IMMU_PHASE": phase}
        result = _immu("image-to-audio", str(png), str(out), env=env)
        assert result.returncode == 0, result.stderr
        with wave.open(str(out)) as wav:
            heard[phase] = np.frombuffer(wav.readframes(wav.getnframes()), "<i2") / 32767
    for phase, other in (("pghi", "griffin-lim"), ("griffin-lim", "pghi")):
        (expected,) = audio_from_images([Image.open(png)], n_iter=4, phase=phase)  # type: ignore[arg-type]
        assert np.abs(heard[phase] - expected).max() < 1e-3  # 16-bit rounding
        assert np.abs(heard[other] - expected).max() > 0.1  # the setting made the difference


def test_audio_to_image_refuses_a_non_audio_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.mp3"
    bad.write_text("nope")
    result = _immu("audio-to-image", str(bad), str(tmp_path / "x.png"))
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize("size", [(512, 200), (64, 64), (300, 513)], ids=str)
def test_image_to_audio_refuses_a_picture_that_is_no_spectrogram(
    size: tuple[int, int], tmp_path: Path
) -> None:
    png = tmp_path / "photo.png"
    Image.new("RGB", size, (90, 120, 200)).save(png)
    result = _immu("image-to-audio", str(png), str(tmp_path / "out.wav"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "512" in result.stderr
    assert not (tmp_path / "out.wav").exists()


def test_models_download_fails_clearly_offline(tmp_path: Path) -> None:
    result = _immu("models", "download", env={"HF_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot download 'Salesforce/blip-image-captioning-large'" in result.stderr


def test_an_invalid_setting_is_named(tmp_path: Path) -> None:
    result = _immu("compose", str(EXAMPLE_PHOTO), env={"IMMU_STEPS": "many"})
    assert result.returncode == 2 and "STEPS" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_ffmpeg_is_named_with_its_setting(tmp_path: Path) -> None:
    from pipeline.encoder import wav_bytes

    wav = tmp_path / "tone.wav"
    wav.write_bytes(wav_bytes(__import__("numpy").zeros(44_100)))
    missing = str(tmp_path / "no-such-ffmpeg")
    result = _immu(
        "audio-to-image", str(wav), str(tmp_path / "x.png"), env={"IMMU_FFMPEG": missing}
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert missing in result.stderr and "IMMU_FFMPEG" in result.stderr


def test_version_is_the_projects() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    result = _immu("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"immu {project['version']}"


def test_the_bot_refuses_a_store_of_a_newer_immu_and_leaves_it_as_it_is(tmp_path: Path) -> None:
    import hashlib
    import sqlite3

    from storage.schema import MIGRATIONS

    store = tmp_path / "immu.db"
    with sqlite3.connect(store) as db:
        db.executescript(f"CREATE TABLE later (x); PRAGMA user_version={len(MIGRATIONS) + 1};")
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    env = {"IMMU_DATA_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": "1:x", "IMMU_CHANNEL": "@c"}
    result = _immu("bot", env=env)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "newer IMMU" in line and str(store) in line
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    assert not Path(f"{store}-wal").exists()
