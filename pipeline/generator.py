"""Riffusion: prompts -> spectrogram images, all tracks in one diffusion batch."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from PIL import Image

from pipeline.errors import ModelLoadError

IMAGE_SIZE = 512  # 512 columns = 5.12 s of audio; 512 mel bins


class SpectrogramGenerator:
    """Stable Diffusion fine-tuned on spectrograms (Riffusion), via ``diffusers``."""

    def __init__(
        self,
        model: str,
        *,
        device: str,
        dtype: torch.dtype,
        steps: int,
        guidance: float,
        scheduler: str = "default",
        tiny_vae: str | None = None,
    ) -> None:
        from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

        from pipeline.seed_walk import SeedWalkImg2Img

        try:
            pipe = StableDiffusionPipeline.from_pretrained(
                model, dtype=dtype, safety_checker=None, requires_safety_checker=False
            )
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load music model {model!r}: {exc}") from exc
        if tiny_vae:  # a distilled decoder: much faster, a little less detail
            from diffusers import AutoencoderTiny

            try:
                pipe.vae = AutoencoderTiny.from_pretrained(tiny_vae, dtype=dtype)
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"cannot load tiny VAE {tiny_vae!r}: {exc}") from exc
        if scheduler == "dpm++":
            pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(device)
        # img2img shares every weight with the text-to-image pipeline: no extra memory
        self.img2img = SeedWalkImg2Img(**self.pipe.components)
        self.img2img.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]
        self.device, self.steps, self.guidance = device, steps, guidance

    def render(
        self,
        prompts: list[str],
        seeds: list[int],
        *,
        steps: int | None = None,
        on_step: Callable[[int, int], None] | None = None,
        timings: dict[str, float] | None = None,
    ) -> list[Image.Image]:
        """One image per prompt, seeded per track, rendered in one batched call.

        ``timings["decode"]`` gets the VAE decode's seconds, apart from the diffusion.
        """
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]

        def _step_end(pipe: object, i: int, t: object, kwargs: dict) -> dict:
            if on_step is not None:
                total = getattr(pipe, "num_timesteps", 0) or steps or self.steps
                on_step(min(i + 1, total), total)
            return kwargs

        result = self.pipe(
            prompts,
            num_inference_steps=steps or self.steps,
            guidance_scale=self.guidance,
            width=IMAGE_SIZE,
            height=IMAGE_SIZE,
            generator=generators,
            callback_on_step_end=_step_end,
            output_type="latent",
        )
        latents = result.images
        if latents.is_cuda:
            torch.cuda.synchronize()  # the diffusion's kernels end before the decode's clock
        started = time.perf_counter()
        images = self._decode(latents)
        if timings is not None:
            timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - started
        return images

    @torch.inference_mode()
    def _decode(self, latents: torch.Tensor) -> list[Image.Image]:
        vae = self.pipe.vae
        pixels = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
        return list(
            self.pipe.image_processor.postprocess(
                pixels, output_type="pil", do_denormalize=[True] * pixels.shape[0]
            )
        )

    def vary(
        self,
        images: list[Image.Image],
        prompts: list[str],
        seeds: list[int],
        *,
        strength: float,
        toward_seeds: list[int] | None = None,
        alpha: float = 0.0,
        steps: int | None = None,
        on_step: Callable[[int, int], None] | None = None,
    ) -> list[Image.Image]:
        """img2img: each image re-rendered towards its prompt, keeping ``1 - strength`` of it.

        Riffusion makes long audio and variations this way: the next clip starts from
        the previous spectrogram, so rhythm and timbre carry over. With ``toward_seeds``
        the noise is ``alpha`` of the way along the arc from each seed's noise to its
        target seed's, so consecutive clips of a long track drift instead of jumping.
        """
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]

        def _step_end(pipe: object, i: int, t: object, kwargs: dict) -> dict:
            if on_step is not None:
                total = getattr(pipe, "num_timesteps", 0) or 1
                on_step(min(i + 1, total), total)
            return kwargs

        if toward_seeds is not None:
            self.img2img.walk = [(a, b, alpha) for a, b in zip(seeds, toward_seeds, strict=True)]
        try:
            result = self.img2img(  # type: ignore[operator]
                prompts,
                image=[image.convert("RGB") for image in images],
                strength=strength,
                num_inference_steps=steps or self.steps,
                guidance_scale=self.guidance,
                generator=generators,
                callback_on_step_end=_step_end,
            )
        finally:
            self.img2img.walk = None
        return list(result.images)
