"""The chain's settings as plain values: no torch, so the bot's settings load fast."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# spectrogram -> audio: a phase-gradient start then Griffin-Lim, or Riffusion's own
PhaseMethod = Literal["pghi", "griffin-lim"]
DEFAULT_PHASE: PhaseMethod = "pghi"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the chain needs, as plain values (built from ``Settings`` by the app)."""

    caption_model: str = "Salesforce/blip-image-captioning-large"
    music_model: str = "riffusion/riffusion-model-v1"
    device: str = "auto"
    steps: int = 50
    guidance: float = 7.0
    scheduler: str = "default"
    tiny_vae: str | None = None  # an AutoencoderTiny (e.g. madebyollin/taesd) to decode with
    griffin_lim_iters: int = 32  # with phase="pghi": the time budget in as many iterations
    phase: PhaseMethod = DEFAULT_PHASE  # spectrogram -> audio: "pghi" or Riffusion's "griffin-lim"
    llm_api_key: str | None = None
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 20.0
    brief_mode: str = "text"  # "vision": the photo goes to the chat model too
    duration_s: float = 5.0
    batch_jobs: int = 1  # jobs whose tracks may share one diffusion call
    ffmpeg: str = "ffmpeg"  # the ffmpeg binary: a name on the PATH or a path
