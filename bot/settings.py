"""Every setting of IMMU, in one place: read from the environment and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pipeline.config import DEFAULT_PHASE, PhaseMethod, PipelineConfig

# Telegram's positive reactions; 👎 💩 🤮 🤬 😢 💔 🖕 and the like are not likes
DEFAULT_LIKE_REACTIONS = (
    "👍", "❤", "🔥", "🥰", "👏", "😁", "🎉", "🤩", "🙏", "👌", "😍", "❤\u200d🔥", "💯",
    "🤣", "⚡", "🏆", "🍾", "😇", "🤗", "😘", "💘", "😎", "🆒",
)  # fmt: skip


class Settings(BaseSettings):
    """IMMU's settings. ``.env.example`` lists each with its default and meaning."""

    model_config = SettingsConfigDict(
        env_prefix="IMMU_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `KEY=` in .env means "use the default"
        extra="ignore",
    )

    # --- models and the chain ---
    caption_model: str = Field("Salesforce/blip-image-captioning-large")
    music_model: str = Field("riffusion/riffusion-model-v1")
    device: Literal["auto", "cuda", "cpu"] = "auto"
    steps: int = Field(50, ge=1, le=200)
    guidance: float = Field(7.0, ge=0.0, le=30.0)
    scheduler: Literal["default", "dpm++"] = "default"
    tiny_vae: str = ""
    griffin_lim_iters: int = Field(32, ge=1, le=256)
    phase: PhaseMethod = DEFAULT_PHASE
    duration_s: float = Field(5.0, ge=1.0, le=30.0)

    # --- the language model for the brief ---
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("IMMU_LLM_API_KEY", "OPENAI_API_KEY")
    )
    llm_base_url: str | None = Field(
        None, validation_alias=AliasChoices("IMMU_LLM_BASE_URL", "OPENAI_BASE_URL")
    )
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(20.0, gt=0)
    brief_mode: Literal["text", "vision"] = "text"

    # --- Telegram ---
    telegram_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "IMMU_TELEGRAM_BOT_TOKEN")
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org",
        validation_alias=AliasChoices("TELEGRAM_API_URL", "IMMU_TELEGRAM_API_URL"),
    )
    channel: str | None = None
    post_format: Literal["video", "audio"] = "video"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # a soft launch: only these people (and admins) may compose; empty: everyone
    allowed_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    progress_edit_s: float = Field(2.0, ge=0.2)
    poll_timeout_s: int = Field(30, ge=0, le=50)
    post_retry_s: float = Field(30.0, ge=0.5)
    post_attempts: int = Field(20, ge=1)
    upload_timeout_s: float = Field(120.0, ge=5.0)
    digest_every_h: float = Field(168.0, ge=0.0)
    # reactions counted as likes; every reaction is still stored (see .env.example)
    like_reactions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_LIKE_REACTIONS)
    )
    channel_lang: Literal["en", "ko", "both"] = "en"
    send_rate: float = Field(30.0, ge=0.0)
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    # the Mini App's pages (bot/web/miniapp.py): off unless webapp_url is set
    webapp_url: str = ""
    webapp_host: str = "127.0.0.1"
    webapp_port: int = Field(8090, ge=1, le=65535)
    webapp_name: str = Field("app", pattern=r"^[A-Za-z0-9_]{3,30}$")
    webapp_max_age_s: float = Field(86400.0, gt=0)
    webapp_rate: int = Field(120, ge=1)

    # --- moderation ---
    moderation: Literal["off", "auto", "review"] = "off"
    safety_model: str = "Falconsai/nsfw_image_detection"
    safety_threshold: float = Field(0.5, ge=0.0, le=1.0)
    review_chat: str | None = None
    reports_to_hide: int = Field(3, ge=0)
    # a post hidden after reports comes back after this long without an operator's decision
    report_review_h: float = Field(24.0, gt=0)
    # with moderation on: model text holding one of these stays out of public captions
    blocked_words: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- limits ---
    max_jobs_per_user: int = Field(2, ge=1)
    max_photos_per_day: int = Field(30, ge=1)
    max_queue: int = Field(50, ge=1)
    max_photo_mb: float = Field(20.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    max_decodes: int = Field(2, ge=1, le=64)
    inline_rate: int = Field(120, ge=1)

    # --- storage and operations ---
    data_dir: Path = Path("data")
    retention_days: int = Field(30, ge=1)
    composer: Literal["local", "ray"] = "local"
    ray_address: str = Field(
        "auto", validation_alias=AliasChoices("IMMU_RAY_ADDRESS", "RAY_ADDRESS")
    )
    ray_allow_no_auth: bool = False
    lanes: int = Field(8, ge=1, le=256)
    batch_jobs: int = Field(1, ge=1, le=16)
    ffmpeg: str = Field("ffmpeg", min_length=1)
    metrics_port: int = Field(0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    # GET /healthz for a supervisor (bot/web/health.py); 0: off
    health_port: int = Field(8081, ge=0, le=65535)
    health_host: str = "127.0.0.1"
    health_min_free_mb: int = Field(500, ge=0)
    # polling: no getUpdates answer for this long is a stuck poll; None: 3 polls + 30 s
    health_poll_stale_s: float | None = Field(None, gt=0)
    log_level: str = "INFO"

    @field_validator("admin_ids", "allowed_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(" ", "").split(",") if part]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("like_reactions", "blocked_words", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def db_path(self) -> Path:
        return self.data_dir / "immu.db"

    @property
    def poll_stale_s(self) -> float:
        """How long polling may go without an answer before /healthz calls it stuck: a
        long poll takes up to IMMU_POLL_TIMEOUT_S, and PTB waits a little between tries."""
        if self.health_poll_stale_s is not None:
            return self.health_poll_stale_s
        return 3 * self.poll_timeout_s + 30.0

    def pipeline_config(self) -> PipelineConfig:
        return PipelineConfig(
            caption_model=self.caption_model,
            music_model=self.music_model,
            device=self.device,
            steps=self.steps,
            guidance=self.guidance,
            scheduler=self.scheduler,
            tiny_vae=self.tiny_vae or None,
            griffin_lim_iters=self.griffin_lim_iters,
            phase=self.phase,
            llm_api_key=self.llm_api_key.get_secret_value() if self.llm_api_key else None,
            llm_base_url=self.llm_base_url,
            llm_model=self.llm_model,
            llm_timeout_s=self.llm_timeout_s,
            brief_mode=self.brief_mode,
            duration_s=self.duration_s,
            batch_jobs=self.batch_jobs,
            ffmpeg=self.ffmpeg,
        )

    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        values = [self.telegram_bot_token, self.llm_api_key, self.webhook_secret]
        return [v.get_secret_value() for v in values if v and v.get_secret_value()]
