"""Several jobs on one GPU: waiting renders share one diffusion call, results unmixed."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pipeline.batching import RenderBatcher


def _pixels(images) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return [np.asarray(image, dtype=np.float32) for image in images]


def _in_threads(batcher: RenderBatcher, jobs: list[tuple[list[str], list[int]]]) -> list[object]:
    """Hold the GPU while every job queues its render, then let them all go."""
    results: list[object] = [None] * len(jobs)

    def run(i: int) -> None:
        try:
            results[i] = batcher.render(jobs[i][0], jobs[i][1], steps=2)
        except Exception as exc:  # the test looks at what each job got
            results[i] = exc

    with batcher.gpu:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
        for thread in threads:
            thread.start()
        while len(batcher._waiting) < len(jobs):
            time.sleep(0.01)
    for thread in threads:
        thread.join(60)
    return results


def test_waiting_jobs_share_one_diffusion_call_and_each_gets_its_own_tracks(
    tiny_pipeline,  # type: ignore[no-untyped-def]
) -> None:
    generator = tiny_pipeline.generator
    jobs = [
        (["jazz, calm", "folk, calm", "ambient, calm"], [1, 2, 3]),
        (["rock, wild", "punk, wild", "metal, wild"], [4, 5, 6]),
        (["lofi, soft", "soul, soft", "funk, soft"], [7, 8, 9]),
    ]
    alone = [_pixels(generator.render(prompts, seeds, steps=2)) for prompts, seeds in jobs]

    batcher = RenderBatcher(generator.render, max_jobs=2, gpu=threading.Lock())
    together = _in_threads(batcher, jobs)
    assert batcher.calls == 2  # two waiting jobs in one call, the third (over the cap) alone
    for mine, got in zip(alone, together, strict=True):
        assert isinstance(got, list) and len(got) == 3
        for expected, image in zip(mine, _pixels(got), strict=True):
            assert np.abs(expected - image).mean() < 1.0  # the same music, not a neighbour's


def test_a_failed_batch_reaches_every_job_in_it() -> None:
    def broken(prompts, seeds, *, steps, on_step, timings):  # type: ignore[no-untyped-def]
        raise RuntimeError("CUDA out of memory")

    batcher = RenderBatcher(broken, max_jobs=4, gpu=threading.Lock())
    results = _in_threads(batcher, [(["a"], [1]), (["b"], [2])])
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError):
        batcher.render(["c"], [3])  # and the GPU is free for the next one
