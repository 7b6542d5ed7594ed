"""Plain data that flows out of the pipeline: what the bot stores and sends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

BriefSource = Literal["llm", "offline"]


class Stage(StrEnum):
    CAPTION = "caption"
    BRIEF = "brief"
    MUSIC = "music"
    AUDIO = "audio"
    ENCODE = "encode"


@dataclass(frozen=True)
class Progress:
    """One progress event: a stage started, or step ``step`` of ``total`` within it."""

    stage: Stage
    step: int = 0
    total: int = 0


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class ComposeOptions:
    """What a person (or the CLI) may choose per request."""

    seed: int = 0
    steps: int | None = None  # None: the configured default
    duration_s: float | None = None  # None: the configured default (5 / 10 / 20 s)
    remix_png: bytes | None = field(default=None, repr=False)  # a track's spectrogram to vary
    remix_prompt: str | None = None
    remix_genre: str | None = None


@dataclass(frozen=True)
class Mood:
    """The photo's mood as read from its colours and captions."""

    label: str
    energy: float  # 0 calm .. 1 energetic
    valence: float  # 0 dark/sad .. 1 bright/happy
    tempo_bpm: int
    words: tuple[str, ...]


@dataclass(frozen=True)
class Brief:
    """One music description, three different genres and a mood."""

    description: str
    genres: tuple[str, str, str]
    mood: str
    source: BriefSource
    tempo_bpm: int | None = None

    def prompt(self, index: int) -> str:
        """Genre, mood and tempo first: the text encoder reads only 77 tokens, and a
        long description must lose its tail, not the mood."""
        tempo = f", {self.tempo_bpm} bpm" if self.tempo_bpm else ""
        return f"{self.genres[index]}, {self.mood} mood{tempo}, {self.description}"


@dataclass(frozen=True)
class Track:
    index: int
    genre: str
    prompt: str
    seed: int
    mp3: bytes = field(repr=False)
    spectrogram_png: bytes = field(repr=False)
    duration_s: float


@dataclass(frozen=True)
class Composition:
    captions: tuple[str, ...]
    brief: Brief
    tracks: tuple[Track, ...]
    cover_jpeg: bytes = field(repr=False)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description, without the audio and image bytes."""
        return {
            "captions": list(self.captions),
            "brief": asdict(self.brief),
            "tracks": [
                {k: v for k, v in asdict(t).items() if k not in ("mp3", "spectrogram_png")}
                for t in self.tracks
            ],
            "seconds": self.seconds,
        }
