"""Throughput with 1 and with 2 Ray workers: jobs per minute and latency for K concurrent jobs,
each without and with cross-job batching (IMMU_BATCH_JOBS).

    python bench/throughput.py --jobs 8                  # tiny models on the CPU
    python bench/throughput.py --full-size --device cuda # real sizes, random weights
    python bench/throughput.py --full-size --device cuda --workers 1  # a one-GPU host

It starts a local Ray instance, pipeline actors through the same code as
``immu worker``, and sends the jobs through the bot's ``RayComposer``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray

from immu.logs import setup_logging
from pipeline.chain import PipelineConfig
from pipeline.composer import ComposeRequest
from pipeline.composition import ComposeOptions
from pipeline.ray_composer import RayComposer
from pipeline.ray_worker import start_workers
from pipeline.weights import write_full_size_models, write_tiny_models

PHOTO = (Path(__file__).resolve().parent.parent / "examples" / "sunset.jpg").read_bytes()


async def run_jobs(composer: RayComposer, jobs: int) -> tuple[float, list[float]]:
    async def one(i: int) -> float:
        started = time.perf_counter()
        await composer.compose(ComposeRequest(i, PHOTO, ComposeOptions(seed=i)), lambda _: None)
        return time.perf_counter() - started

    started = time.perf_counter()
    latencies = await asyncio.gather(*(one(i) for i in range(jobs)))
    return time.perf_counter() - started, sorted(latencies)


async def measure(workers: int, jobs: int) -> tuple[float, list[float]]:
    """One composer, in one event loop: a warm-up job per worker, then ``jobs`` at once."""
    composer = RayComposer(address="auto")
    await composer.start()
    await run_jobs(composer, workers)
    return await run_jobs(composer, jobs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=8, help="concurrent requests (K)")
    parser.add_argument("--full-size", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-jobs", type=int, default=3, help="the batched setting to try")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    setup_logging("WARNING")
    gpus = 1 if args.device == "cuda" else 0

    with tempfile.TemporaryDirectory(prefix="immu-throughput-") as tmp:
        env = write_full_size_models(Path(tmp)) if args.full_size else write_tiny_models(Path(tmp))
        ray.init(
            num_cpus=4, num_gpus=2 * gpus, include_dashboard=False, logging_level=logging.ERROR
        )
        rows = []
        for workers in args.workers:
            for batch in sorted({1, args.batch_jobs}):
                config = PipelineConfig(
                    caption_model=env["IMMU_CAPTION_MODEL"],
                    music_model=env["IMMU_MUSIC_MODEL"],
                    device=args.device,
                    steps=args.steps or (25 if args.full_size else 4),
                    griffin_lim_iters=32 if args.full_size else 4,
                    batch_jobs=batch,
                )
                actors = start_workers(
                    config, count=workers, gpus_per_worker=gpus, name=f"bench{workers}-{batch}"
                )
                elapsed, latencies = asyncio.run(measure(workers, args.jobs))
                p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
                rate = args.jobs / elapsed * 60
                rows.append((workers, batch, rate, statistics.median(latencies), p95))
                print(f"measured workers={workers} batch_jobs={batch}", flush=True)
                for actor in actors:
                    ray.kill(actor)
                time.sleep(1)
        ray.shutdown()

    kind = "full-size random weights" if args.full_size else "tiny random weights"
    print(f"K={args.jobs} concurrent jobs, {kind}, device={args.device}")
    print(f"{'workers':>8}{'batch':>7}{'jobs/min':>10}{'p50 s':>8}{'p95 s':>8}")
    for workers, batch, rate, p50, p95 in rows:
        print(f"{workers:>8}{batch:>7}{rate:>10.1f}{p50:>8.2f}{p95:>8.2f}")
    base = {(w, b): rate for w, b, rate, _, _ in rows}
    for batch in sorted({1, args.batch_jobs}):
        if (1, batch) in base and (2, batch) in base:
            ratio = base[(2, batch)] / base[(1, batch)]
            print(f"2 workers / 1 worker, batch_jobs={batch}: {ratio:.2f}x jobs per minute")
    if args.batch_jobs != 1:
        for workers in args.workers:
            ratio = base[(workers, args.batch_jobs)] / base[(workers, 1)]
            print(
                f"batch_jobs={args.batch_jobs} / 1, {workers} worker(s): {ratio:.2f}x jobs per minute"
            )


if __name__ == "__main__":
    main()
