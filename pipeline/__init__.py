"""IMMU's ML chain, pure: photo bytes and options in, a ``Composition`` out."""

from pipeline.chain import Pipeline, PipelineConfig
from pipeline.composer import Composer, ComposeRequest, LocalComposer
from pipeline.composition import (
    Brief,
    ComposeOptions,
    Composition,
    Mood,
    Progress,
    ProgressCallback,
    Stage,
    Track,
)
from pipeline.errors import EncodeError, ModelLoadError, PhotoError, PhotoProblem, PipelineError

__all__ = [
    "Brief",
    "ComposeOptions",
    "ComposeRequest",
    "Composer",
    "Composition",
    "EncodeError",
    "LocalComposer",
    "ModelLoadError",
    "Mood",
    "PhotoError",
    "PhotoProblem",
    "Pipeline",
    "PipelineConfig",
    "PipelineError",
    "Progress",
    "ProgressCallback",
    "Stage",
    "Track",
]
