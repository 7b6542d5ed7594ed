"""Riffusion's seed interpolation: img2img noise taken from the arc between two seeds.

Imported only where the models load, so that a bot that sends work to Ray workers
never imports diffusers.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import StableDiffusionImg2ImgPipeline
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import (
    retrieve_latents,
)


def seed_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The same Gaussian noise for a seed on every device (drawn on the CPU)."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))


def slerp(
    t: float, v0: torch.Tensor, v1: torch.Tensor, dot_threshold: float = 0.9995
) -> torch.Tensor:
    """Spherical interpolation, as Riffusion walks between seeds.

    A straight mix of two noises is too quiet in the middle (its norm drops by up to
    1/sqrt(2)), and diffusion renders quiet noise as a washed-out image; the arc keeps
    the norm of the noise the model was trained on.
    """
    a, b = v0.flatten().double(), v1.flatten().double()
    dot = float(torch.dot(a, b) / (a.norm() * b.norm()))
    if abs(dot) > dot_threshold:
        mixed = (1 - t) * a + t * b
    else:
        theta = torch.arccos(torch.tensor(dot, dtype=torch.float64))
        mixed = (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / torch.sin(theta)
    return mixed.reshape(v0.shape).to(v0.dtype)


class SeedWalkImg2Img(StableDiffusionImg2ImgPipeline):
    """img2img whose noise may be a point on the arc between two seeds' noise.

    ``walk`` holds one ``(seed_a, seed_b, alpha)`` per image for the next call; ``None``
    keeps diffusers' own noise.
    """

    walk: list[tuple[int, int, float]] | None = None
    vae: Any  # registered modules, set by diffusers at construction
    scheduler: Any

    def prepare_latents(  # type: ignore[no-untyped-def]
        self, image, timestep, batch_size, num_images_per_prompt, dtype, device, generator=None
    ):
        if self.walk is None:
            return super().prepare_latents(  # type: ignore[misc]
                image, timestep, batch_size, num_images_per_prompt, dtype, device, generator
            )
        image = image.to(device=device, dtype=dtype)
        # the posterior's mode, not a sample: where a clip goes depends on the walk alone
        latents = retrieve_latents(self.vae.encode(image), sample_mode="argmax")
        latents = self.vae.config.scaling_factor * latents
        shape = tuple(latents.shape[1:])
        noise = torch.stack(
            [slerp(alpha, seed_noise(shape, a), seed_noise(shape, b)) for a, b, alpha in self.walk]
        )
        return self.scheduler.add_noise(latents, noise.to(device=device, dtype=dtype), timestep)
