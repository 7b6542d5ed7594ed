"""The pipeline's one exception family; each message is one line a person can act on."""

from __future__ import annotations

from enum import StrEnum


class PhotoProblem(StrEnum):
    """Why a photo was refused; the bot maps each to a text in the user's language."""

    EMPTY = "empty"
    NOT_IMAGE = "not_image"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT = "corrupt"


class PipelineError(Exception):
    """Something in the photo-to-music chain failed."""


class PhotoError(PipelineError):
    """The input is not a photo we can use."""

    def __init__(self, problem: PhotoProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


class ModelLoadError(PipelineError):
    """A model could not be loaded from the hub id or folder configured."""


class EncodeError(PipelineError):
    """ffmpeg could not write the audio or video."""


class NoWorkerError(PipelineError):
    """No GPU worker is alive, or every try of a job lost its worker."""
