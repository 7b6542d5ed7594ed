"""Choosing where models run: CUDA when present, else CPU."""

from __future__ import annotations

import torch


def pick_device(preference: str = "auto") -> str:
    """``auto`` takes CUDA when available; ``cuda``/``cpu`` force one."""
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return preference


def pick_dtype(device: str) -> torch.dtype:
    """fp16 on CUDA (the models were trained for it), fp32 on CPU."""
    return torch.float16 if device.startswith("cuda") else torch.float32
