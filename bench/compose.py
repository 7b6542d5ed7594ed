"""Per-stage seconds of the chain: median of N runs and each stage's share.

    python bench/compose.py                       # tiny random models on the CPU
    python bench/compose.py --full-size --runs 1  # real model sizes, random weights
    python bench/compose.py --models CAPTION_DIR MUSIC_DIR --device cuda --steps 50

Random weights time the same as trained ones, so ``--full-size`` measures what a
host gives without downloading anything.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from immu.logs import setup_logging
from pipeline.chain import Pipeline, PipelineConfig
from pipeline.composition import ComposeOptions, Composition
from pipeline.weights import write_full_size_models, write_tiny_autoencoder, write_tiny_models

STAGES = ("caption", "brief", "music", "decode", "audio", "encode", "upload")
LABELS = {"music": "diffusion", "decode": "VAE decode", "audio": "image->audio"}


def upload_seconds(composition: Composition) -> float:
    """The three audios with their cover, as the bot sends them, to the fake Bot API."""
    from telegram import Bot

    from tests.fakes.telegram_server import FakeTelegram

    tg = FakeTelegram().start()
    person = tg.user(1, "Bench")

    async def send() -> float:
        api = tg.url.rstrip("/")
        async with Bot(tg.token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot") as bot:
            started = time.perf_counter()
            for track in composition.tracks:
                await bot.send_audio(
                    person["id"],
                    audio=track.mp3,
                    title=track.genre,
                    duration=round(track.duration_s),
                    thumbnail=composition.cover_jpeg,
                )
            return time.perf_counter() - started

    try:
        return asyncio.run(send())
    finally:
        tg.stop()


def measure(
    pipeline: Pipeline, photo: bytes, runs: int, warmup: bool = True
) -> tuple[dict[str, float], float | None]:
    """Median seconds of each stage, of the composition alone (``compose``) and with the
    upload (``total``) over ``runs`` compositions, and the GPU memory peak in GiB (None
    on a CPU)."""
    cuda = pipeline.device.startswith("cuda")
    if warmup:
        pipeline.compose(photo, ComposeOptions(seed=0))  # warm-up: kernels, caches, allocator
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    measured = []
    for i in range(runs):
        t0 = time.perf_counter()
        composition = pipeline.compose(photo, ComposeOptions(seed=i + 1))
        total = time.perf_counter() - t0
        upload = upload_seconds(composition)
        measured.append(
            {**composition.seconds, "compose": total, "upload": upload, "total": total + upload}
        )
    medians = {
        key: statistics.median(r.get(key, 0.0) for r in measured)
        for key in (*STAGES, "compose", "total")
    }
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    return medians, peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--models", nargs=2, metavar=("CAPTION", "MUSIC"), help="hub ids or folders"
    )
    parser.add_argument("--full-size", action="store_true", help="real sizes, random weights")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=None, help="default: 4 tiny, 50 otherwise")
    parser.add_argument("--griffin-lim-iters", type=int, default=32)
    parser.add_argument("--scheduler", default="default", choices=("default", "dpm++"))
    parser.add_argument(
        "--tiny-vae", action="store_true", help="decode with TAESD's architecture (random)"
    )
    parser.add_argument(
        "--no-warmup", action="store_true", help="skip the warm-up run (slow CPU hosts)"
    )
    parser.add_argument(
        "--photo",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "examples" / "sunset.jpg",
    )
    args = parser.parse_args()
    setup_logging("WARNING")

    with tempfile.TemporaryDirectory(prefix="immu-bench-") as tmp:
        if args.models:
            caption, music, kind = args.models[0], args.models[1], "given models"
        elif args.full_size:
            env = write_full_size_models(Path(tmp))
            caption, music, kind = (
                env["IMMU_CAPTION_MODEL"],
                env["IMMU_MUSIC_MODEL"],
                "full-size, random weights",
            )
        else:
            env = write_tiny_models(Path(tmp))
            caption, music, kind = (
                env["IMMU_CAPTION_MODEL"],
                env["IMMU_MUSIC_MODEL"],
                "tiny, random weights",
            )
        steps = args.steps or (50 if (args.models or args.full_size) else 4)
        config = PipelineConfig(
            caption_model=caption,
            music_model=music,
            device=args.device,
            steps=steps,
            griffin_lim_iters=args.griffin_lim_iters,
            scheduler=args.scheduler,
            tiny_vae=str(write_tiny_autoencoder(Path(tmp) / "taesd", full_size=True))
            if args.tiny_vae
            else None,
        )
        started = time.perf_counter()
        pipeline = Pipeline(config)
        load_s = time.perf_counter() - started
        medians, peak = measure(pipeline, args.photo.read_bytes(), args.runs, not args.no_warmup)

    device = pipeline.device
    name = (
        torch.cuda.get_device_name()
        if device.startswith("cuda")
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )
    print(f"device: {name}")
    print(
        f"models: {kind}; steps={steps} scheduler={args.scheduler} griffin_lim_iters={args.griffin_lim_iters}"
        f"{' tiny_vae' if args.tiny_vae else ''}"
    )
    warm = "no warm-up" if args.no_warmup else "after one warm-up"
    print(f"runs: {args.runs} ({warm}); model load: {load_s:.1f} s")
    total = medians["total"]
    print(f"{'stage':<13}{'median s':>10}{'share':>8}")
    for stage in STAGES:
        value = medians[stage]
        print(f"{LABELS.get(stage, stage):<13}{value:>10.3f}{value / total:>8.1%}")
    print(f"{'total':<13}{total:>10.3f}{1:>8.0%}")
    print("(the brief is the offline one here; a chat model's call is extra, and separate)")
    print(f"per track: {total / 3:.3f} s")
    if peak is not None:
        print(f"GPU memory peak: {peak:.2f} GiB")


if __name__ == "__main__":
    main()
