"""Quality-neutral speed-ups, each measured alone against the pipeline as it is.

Every function takes a loaded ``Pipeline``, times the stage the speed-up touches with
and without it, back to back in the same process, and leaves the pipeline as it found
it. None of them changes what IMMU does by default; ``bench/kit.py`` runs them.
Each side is run once before it is timed, whatever the kit's ``--warmup`` says: a
speed-up is a ratio of two measures, and one cold side would make it up.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable

import torch
from PIL import Image

from pipeline.chain import Pipeline
from pipeline.spectrogram import audio_from_images

PROMPTS = [
    "bossa nova, serene mood, 96 bpm, a sunset over the sea",
    "ambient, serene mood, 96 bpm, a sunset over the sea",
    "acoustic folk, serene mood, 96 bpm, a sunset over the sea",
]
SEEDS = [1, 2, 3]
LATENT_SHAPE = (len(PROMPTS), 4, 64, 64)  # three 512x512 spectrograms, 8x down


def median_seconds(device: str, fn: Callable[[], object], runs: int) -> float:
    """The median of ``runs`` timed calls, the GPU's queue drained around each."""
    seconds = []
    for _ in range(runs):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _render(pipeline: Pipeline) -> Callable[[], object]:
    return lambda: pipeline.generator.render(PROMPTS, SEEDS)


def griffin_lim_batched(pipeline: Pipeline, runs: int) -> dict[str, float]:
    """Three tracks' Griffin-Lim in one batch (IMMU's way) vs one track after another."""
    images: list[Image.Image] = pipeline.generator.render(PROMPTS, SEEDS)
    device, n_iter = pipeline.device, pipeline.audio.n_iter

    def one_by_one() -> None:
        for image in images:
            audio_from_images([image], device=device, n_iter=n_iter)

    def batched() -> None:
        audio_from_images(images, device=device, n_iter=n_iter)

    one_by_one()  # cuFFT plans, the mel matrices on the device
    batched()
    return {
        "off": median_seconds(device, one_by_one, runs),
        "on": median_seconds(device, batched, runs),
    }


def half_vae(pipeline: Pipeline, runs: int) -> dict[str, float]:
    """The VAE decode of three latents in fp32 vs half precision: fp16 on CUDA (already
    IMMU's there), bf16 on a CPU (which has no fast fp16)."""
    device = pipeline.device
    half = torch.float16 if device.startswith("cuda") else torch.bfloat16
    latents = torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(0))
    seconds = {}
    for key, dtype in (("off", torch.float32), ("on", half)):
        vae = copy.deepcopy(pipeline.generator.pipe.vae).to(device, dtype)
        sample = latents.to(device, dtype)

        def decode(vae: torch.nn.Module = vae, sample: torch.Tensor = sample) -> None:
            with torch.inference_mode():
                vae.decode(sample)  # type: ignore[operator]

        decode()
        seconds[key] = median_seconds(device, decode, runs)
        del vae
    return seconds


def channels_last(pipeline: Pipeline, runs: int) -> dict[str, float]:
    """Diffusion and VAE decode with the UNet and VAE in channels-last memory format."""
    pipe, render = pipeline.generator.pipe, _render(pipeline)
    render()
    off = median_seconds(pipeline.device, render, runs)
    try:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        render()
        on = median_seconds(pipeline.device, render, runs)
    finally:
        pipe.unet.to(memory_format=torch.contiguous_format)
        pipe.vae.to(memory_format=torch.contiguous_format)
    return {"off": off, "on": on}


def compiled_unet(
    pipeline: Pipeline,
    runs: int,
    *,
    mode: str | None = None,
    backend: str = "inductor",
) -> dict[str, float]:
    """Diffusion and VAE decode with ``torch.compile`` on the UNet; its warm-up (the
    compile, paid once at start-up) is timed apart. ``mode="reduce-overhead"`` adds CUDA
    graphs."""
    pipe, render = pipeline.generator.pipe, _render(pipeline)
    render()
    off = median_seconds(pipeline.device, render, runs)
    unet = pipe.unet
    try:
        pipe.unet = torch.compile(unet, mode=mode, backend=backend)
        warm_up = median_seconds(pipeline.device, render, 1)
        on = median_seconds(pipeline.device, render, runs)
    finally:
        pipe.unet = unet
        torch._dynamo.reset()
    return {"off": off, "warm-up": warm_up, "on": on}
