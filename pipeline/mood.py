"""The photo's mood from what it shows: brightness, colour temperature, saturation, words."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.composition import Mood

_CALM_WORDS = {"sleeping", "sunset", "lake", "snow", "fog", "quiet", "night", "rain", "alone"}
_LIVELY_WORDS = {"party", "crowd", "dancing", "running", "playing", "concert", "city", "people"}
_SAD_WORDS = {"rain", "alone", "grave", "storm", "dark", "empty", "old"}
_HAPPY_WORDS = {"smiling", "beach", "flowers", "children", "birthday", "sunny", "party", "dog"}

# (valence high?, energy high?) -> label and prompt words
_QUADRANTS: dict[tuple[bool, bool], tuple[str, tuple[str, ...]]] = {
    (True, True): ("joyful", ("bright", "upbeat", "major key")),
    (True, False): ("serene", ("warm", "gentle", "relaxed")),
    (False, True): ("tense", ("driving", "dark", "minor key")),
    (False, False): ("melancholic", ("slow", "cold", "minor key")),
}


def read_mood(image: Image.Image, captions: list[str] | tuple[str, ...] = ()) -> Mood:
    """Valence from brightness and warmth, energy from saturation and contrast, nudged by words."""
    small = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.float32) / 255.0
    r, g, b = small[..., 0], small[..., 1], small[..., 2]
    brightness = float((0.299 * r + 0.587 * g + 0.114 * b).mean())
    warmth = float((r - b).mean())  # > 0 warm (reds, oranges), < 0 cold (blues)
    hsv = np.asarray(image.convert("RGB").resize((64, 64)).convert("HSV"), dtype=np.float32)
    saturation = float(hsv[..., 1].mean() / 255.0)
    contrast = float((0.299 * r + 0.587 * g + 0.114 * b).std())

    words = {w.strip(".,!?").lower() for c in captions for w in c.split()}
    valence = 0.6 * brightness + 0.4 * (0.5 + warmth)
    valence += 0.1 * len(words & _HAPPY_WORDS) - 0.1 * len(words & _SAD_WORDS)
    energy = 0.5 * saturation + 1.0 * contrast + 0.2 * brightness
    energy += 0.1 * len(words & _LIVELY_WORDS) - 0.1 * len(words & _CALM_WORDS)
    valence, energy = _clip(valence), _clip(energy)

    label, prompt_words = _QUADRANTS[(valence >= 0.5, energy >= 0.4)]
    tempo = round(70 + 70 * energy)  # 70 bpm calm .. 140 bpm lively
    return Mood(label=label, energy=energy, valence=valence, tempo_bpm=tempo, words=prompt_words)


def _clip(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
