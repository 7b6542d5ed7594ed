"""IMMU's ML chain, pure: photo bytes and options in, a ``Composition`` out.

Importing the package is cheap (no torch): the chain and the in-process composer,
which load the models, are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.composer import Composer, ComposeRequest
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
from pipeline.config import PipelineConfig
from pipeline.errors import (
    EncodeError,
    ModelLoadError,
    NoWorkerError,
    PhotoError,
    PhotoProblem,
    PipelineError,
)

if TYPE_CHECKING:
    from pipeline.chain import Pipeline
    from pipeline.local_composer import LocalComposer

_HEAVY = {"Pipeline": "pipeline.chain", "LocalComposer": "pipeline.local_composer"}


def __getattr__(name: str) -> Any:
    if name in _HEAVY:
        import importlib

        return getattr(importlib.import_module(_HEAVY[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")


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
    "NoWorkerError",
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
