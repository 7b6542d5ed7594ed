"""The whole chain with tiny random-weight models loaded through ``from_pretrained``."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from pipeline.composition import ComposeOptions, Progress, Stage
from pipeline.encoder import Encoder
from pipeline.errors import ModelLoadError, PhotoError


def _ffprobe(mp3: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".mp3") as f:
        f.write(mp3)
        f.flush()
        return subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries",
             "format=duration:format_tags=title,genre:stream=codec_name,sample_rate", f.name],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip


def test_one_photo_gives_three_tracks_with_progress_in_order(tiny_pipeline, photo_bytes) -> None:  # type: ignore[no-untyped-def]
    events: list[Progress] = []
    composition = tiny_pipeline.compose(photo_bytes, ComposeOptions(seed=7), events.append)

    assert len(composition.captions) == 3 and len(set(composition.captions)) == 3
    assert len(composition.tracks) == 3
    assert len(set(composition.brief.genres)) == 3
    stages = [e.stage for e in events]
    first = {s: stages.index(s) for s in Stage}
    assert (
        first[Stage.CAPTION]
        < first[Stage.BRIEF]
        < first[Stage.MUSIC]
        < first[Stage.AUDIO]
        < first[Stage.ENCODE]
    )
    steps = [e.step for e in events if e.stage == Stage.MUSIC and e.total]
    assert steps == sorted(steps) and steps[-1] == [e.total for e in events if e.total][-1]

    for track in composition.tracks:
        probe = _ffprobe(track.mp3)
        assert "codec_name=mp3" in probe and "sample_rate=44100" in probe
        assert "codec_name=mjpeg" in probe  # the photo as cover art
        assert f"TAG:genre={track.genre}" in probe
        duration = float(probe.split("duration=")[1].split()[0])
        assert 5.0 < duration < 5.3
        assert Image.open(io.BytesIO(track.spectrogram_png)).size == (512, 512)
        assert track.prompt.startswith(track.genre)
    assert len({t.seed for t in composition.tracks}) == 3


def test_the_same_seed_gives_the_same_music(tiny_pipeline, photo_bytes) -> None:  # type: ignore[no-untyped-def]
    a = tiny_pipeline.compose(photo_bytes, ComposeOptions(seed=3))
    b = tiny_pipeline.compose(photo_bytes, ComposeOptions(seed=3))
    c = tiny_pipeline.compose(photo_bytes, ComposeOptions(seed=4))
    assert a.captions == b.captions
    assert [t.spectrogram_png for t in a.tracks] == [t.spectrogram_png for t in b.tracks]
    assert a.tracks[0].spectrogram_png != c.tracks[0].spectrogram_png


def test_the_channel_video_has_the_track_length(tiny_pipeline, photo_bytes) -> None:  # type: ignore[no-untyped-def]
    composition = tiny_pipeline.compose(photo_bytes)
    mp4 = Encoder().mp4(composition.tracks[0].mp3, cover_jpeg=composition.cover_jpeg)
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(mp4)
        f.flush()
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,duration", f.name],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    assert "codec_name=h264" in out and "codec_name=aac" in out
    durations = [float(x) for x in out.split("duration=")[1:] for x in [x.split()[0]]]
    assert all(4.9 < d < 5.4 for d in durations)


def test_bad_photo_bytes_raise_a_photo_error_before_any_model_runs(tiny_pipeline) -> None:  # type: ignore[no-untyped-def]
    events: list[Progress] = []
    with pytest.raises(PhotoError):
        tiny_pipeline.compose(b"definitely not a photo", on_progress=events.append)
    assert events == []


def test_a_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    from pipeline.captioner import Captioner

    with pytest.raises(ModelLoadError, match="cannot load captioning model"):
        Captioner(str(tmp_path / "nowhere"), device="cpu", dtype=__import__("torch").float32)


def test_a_tiny_vae_decodes_the_spectrograms_when_configured(  # type: ignore[no-untyped-def]
    tiny_config, tiny_pipeline, photo_bytes, tmp_path
) -> None:
    from dataclasses import replace

    from pipeline.chain import Pipeline
    from pipeline.weights import write_tiny_autoencoder

    fast = Pipeline(replace(tiny_config, tiny_vae=str(write_tiny_autoencoder(tmp_path / "taesd"))))
    options = ComposeOptions(seed=4)
    quick, full = fast.compose(photo_bytes, options), tiny_pipeline.compose(photo_bytes, options)
    assert len(quick.tracks) == 3 and all(t.mp3 for t in quick.tracks)
    # the same seed and prompts, another decoder: other spectrograms
    assert [t.prompt for t in quick.tracks] == [t.prompt for t in full.tracks]
    assert all(
        a.spectrogram_png != b.spectrogram_png
        for a, b in zip(quick.tracks, full.tracks, strict=True)
    )
    with pytest.raises(ModelLoadError, match="tiny VAE"):
        Pipeline(replace(tiny_config, tiny_vae=str(tmp_path / "missing")))
