"""The FakeComposer keeps the composer's promises: the chain's stages, real MP3s, holds."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from pipeline import ComposeOptions, ComposeRequest, PhotoError, Progress, Stage
from tests.fakes.composer import FakeComposer
from tests.support.paths import EXAMPLE_PHOTO, ROOT

PHOTO = EXAMPLE_PHOTO.read_bytes()


async def test_a_compose_walks_the_chains_stages_and_returns_three_real_tracks() -> None:
    composer = FakeComposer(steps=2, genres=("jazz", "rock", "folk"))
    await composer.start()
    events: list[Progress] = []
    composition = await composer.compose(
        ComposeRequest(7, PHOTO, ComposeOptions(seed=3)), events.append
    )
    assert events == [
        Progress(Stage.CAPTION), Progress(Stage.BRIEF), Progress(Stage.MUSIC),
        Progress(Stage.MUSIC, 1, 2), Progress(Stage.MUSIC, 2, 2),
        Progress(Stage.AUDIO), Progress(Stage.ENCODE),
    ]  # fmt: skip
    assert [t.genre for t in composition.tracks] == ["jazz", "rock", "folk"]
    assert [t.seed for t in composition.tracks] == [9, 10, 11]  # as the chain: seed * 3 + i
    assert len({t.mp3 for t in composition.tracks}) == 3
    assert all(
        t.mp3[:3] == b"ID3" and t.spectrogram_png[:4] == b"\x89PNG" for t in composition.tracks
    )
    assert composition.cover_jpeg[:2] == b"\xff\xd8" and composition.tracks[1].prompt.startswith(
        "rock"
    )
    assert composer.job_ids == [7] and await composer.workers_alive() == 1


async def test_a_remix_gives_three_variations_of_one_track() -> None:
    options = ComposeOptions(remix_png=b"png", remix_prompt="lofi, calm", remix_genre="lofi")
    composition = await FakeComposer().compose(ComposeRequest(1, PHOTO, options), lambda _: None)
    assert {(t.genre, t.prompt) for t in composition.tracks} == {("lofi", "lofi, calm")}


async def test_a_hold_pauses_jobs_at_a_stage_until_released() -> None:
    composer = FakeComposer()
    gate = composer.hold(Stage.MUSIC, step=2)
    events: list[Progress] = []
    jobs = [asyncio.create_task(composer.compose(ComposeRequest(i, PHOTO, ComposeOptions()), events.append)) for i in (1, 2)]  # fmt: skip
    assert sorted(await gate.reached(2)) == [1, 2]  # both paused, in whichever order
    assert events[-1] == Progress(Stage.MUSIC, 2, 3) and not any(job.done() for job in jobs)
    gate.release()
    await asyncio.gather(*jobs)
    with pytest.raises(AssertionError, match="0 of 1 jobs reached"):
        await composer.hold(Stage.AUDIO).reached(timeout=0.01)


async def test_failures_come_in_the_order_asked_and_bad_photos_fail_as_in_the_chain() -> None:
    composer = FakeComposer()
    composer.fail_next(1, RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        await composer.compose(ComposeRequest(1, PHOTO, ComposeOptions()), lambda _: None)
    await composer.compose(ComposeRequest(2, PHOTO, ComposeOptions()), lambda _: None)
    with pytest.raises(PhotoError):
        await composer.compose(ComposeRequest(3, b"not a photo", ComposeOptions()), lambda _: None)
    assert composer.job_ids == [1, 2, 3]


def test_importing_it_loads_no_model_library() -> None:
    tree = ast.parse(Path(ROOT, "tests", "fakes", "composer.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
    allowed = {"__future__", "asyncio", "functools", "io", "math", "collections.abc",
               "dataclasses", "typing", "PIL", "pipeline.composition", "pipeline.photo"}  # fmt: skip
    assert names <= allowed, names - allowed
