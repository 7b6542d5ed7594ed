"""Where the repository and its example photo are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE_PHOTO = ROOT / "examples" / "sunset.jpg"
