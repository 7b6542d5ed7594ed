"""Longer tracks grown clip by clip, joined without clicks and loopable; remix variations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from pipeline.audio import AudioRenderer
from pipeline.composition import ComposeOptions, Progress, Stage
from pipeline.spectrogram import HOP_LENGTH, SAMPLE_RATE

CLIP = 511 * HOP_LENGTH


def _tone(hz: float, phase: float) -> np.ndarray:
    t = np.arange(CLIP) / SAMPLE_RATE
    return (0.8 * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)


def _largest_jump(audio: np.ndarray) -> float:
    return float(np.abs(np.diff(audio)).max())


@pytest.mark.parametrize("seconds", [10.0, 20.0])
def test_joined_clips_have_the_length_and_no_click_at_joins_or_the_loop_point(
    seconds: float,
) -> None:
    count = AudioRenderer.clips_needed(seconds)
    # clips that do not line up: different pitch and phase, as real clips never match
    clips = [_tone(220 * (k + 1), phase=1.3 * k) for k in range(count)]
    track = AudioRenderer.join(clips, seconds)
    assert len(track) == int(seconds * SAMPLE_RATE)
    # An equal-power crossfade of two sines is at most sqrt(2) steeper than either.
    bound = max(_largest_jump(c) for c in clips) * 1.45
    assert _largest_jump(track) <= bound
    loop = np.concatenate([track, track[:100]])  # playing on from the end into the start
    assert _largest_jump(loop) <= bound
    # the same clips butted together do click: the bound would catch a missing fade
    hard_cuts = [abs(float(a[-1] - b[0])) for a, b in itertools.pairwise(clips)]
    assert max(hard_cuts) > bound


def test_a_10_second_composition_grows_from_img2img_clips(tiny_pipeline, photo_bytes) -> None:  # type: ignore[no-untyped-def]
    events: list[Progress] = []
    composition = tiny_pipeline.compose(
        photo_bytes, ComposeOptions(seed=2, duration_s=10.0), events.append
    )
    assert all(abs(t.duration_s - 10.0) < 0.01 for t in composition.tracks)
    music_passes = sum(1 for e in events if e.stage == Stage.MUSIC and e.step == 1)
    assert music_passes == AudioRenderer.clips_needed(10.0)  # one text-to-image + img2img steps


def test_a_remix_varies_one_track_three_ways(tiny_pipeline, photo_bytes) -> None:  # type: ignore[no-untyped-def]
    original = tiny_pipeline.compose(photo_bytes, ComposeOptions(seed=5))
    track = original.tracks[1]
    remix = tiny_pipeline.compose(
        photo_bytes,
        ComposeOptions(
            seed=9,
            remix_png=track.spectrogram_png,
            remix_prompt=track.prompt,
            remix_genre=track.genre,
        ),
    )
    assert [t.genre for t in remix.tracks] == [track.genre] * 3
    assert all(t.prompt == track.prompt for t in remix.tracks)
    pngs = [t.spectrogram_png for t in remix.tracks]
    assert len(set(pngs)) == 3 and track.spectrogram_png not in pngs


def test_seed_interpolation_keeps_the_noise_as_loud_as_either_seed() -> None:
    from pipeline.seed_walk import seed_noise, slerp

    a, b = seed_noise((4, 64, 64), 1), seed_noise((4, 64, 64), 2)
    assert torch.equal(slerp(0.0, a, b), a) and torch.allclose(slerp(1.0, a, b), b, atol=1e-5)
    for t in (0.25, 0.5, 0.75):
        assert abs(float(slerp(t, a, b).norm() / a.norm()) - 1) < 0.02
    # the straight mix a naive walk would use is ~30% quieter halfway: washed-out clips
    assert float((0.5 * a + 0.5 * b).norm() / a.norm()) < 0.75


def test_a_long_tracks_clips_walk_from_one_seed_to_the_next(tiny_pipeline) -> None:  # type: ignore[no-untyped-def]
    generator = tiny_pipeline.generator
    start = generator.render(["calm piano"], [11], steps=2)

    def clip(seed: int, target: int, alpha: float) -> np.ndarray:
        image = generator.vary(
            start, ["calm piano"], [seed], toward_seeds=[target], alpha=alpha, strength=0.6, steps=2
        )[0]
        return np.asarray(image, dtype=np.float32)

    first, middle, last = clip(11, 12, 0.0), clip(11, 12, 0.5), clip(11, 12, 1.0)
    # the end of the walk from seed 11 is exactly where a walk from seed 12 begins
    assert np.array_equal(last, clip(12, 11, 0.0))
    span = np.abs(first - last).mean()
    assert span > 0
    # halfway along, the clip is nearer to both ends than they are to each other
    assert np.abs(middle - first).mean() < span and np.abs(middle - last).mean() < span
