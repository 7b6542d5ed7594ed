"""Is a photo safe to publish? An image classifier (an NSFW detector) scores it.

Pure: image in, score out. The caller decides what a score means for a person.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
from PIL import Image

from pipeline.errors import ModelLoadError

# Labels that mean "not for a public channel" in the detectors people use
# (Falconsai/nsfw_image_detection: normal/nsfw; others: porn, hentai, sexy ...).
UNSAFE_LABELS = frozenset({"nsfw", "unsafe", "porn", "hentai", "sexy", "explicit"})


@dataclass(frozen=True)
class SafetyScore:
    """The classifier's verdict: its top label and the probability that the photo is unsafe."""

    label: str
    unsafe: float


class SafetyClassifier:
    """A transformers image-classification model, loaded once from a hub id or a folder."""

    def __init__(self, model: str, *, device: str = "cpu") -> None:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        try:
            self.processor = AutoImageProcessor.from_pretrained(model)
            self.model = AutoModelForImageClassification.from_pretrained(model)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load safety model {model!r}: {exc}") from exc
        labels: dict[int, str] = dict(self.model.config.id2label or {})
        self.labels = [labels[i] for i in range(len(labels))]
        self.unsafe = [i for i, name in enumerate(self.labels) if name.lower() in UNSAFE_LABELS]
        if not self.unsafe:
            raise ModelLoadError(
                f"safety model {model!r} has no unsafe label (labels: {self.labels}); "
                f"expected one of {sorted(UNSAFE_LABELS)}"
            )
        self.model.to(device).eval()  # type: ignore[arg-type]
        self.device = device

    @torch.inference_mode()
    def score(self, photo: Image.Image | bytes) -> SafetyScore:
        """The probability mass on the unsafe labels, and the most likely label."""
        image = Image.open(io.BytesIO(photo)) if isinstance(photo, bytes) else photo
        inputs = self.processor(images=image.convert("RGB"), return_tensors="pt").to(self.device)
        probs = self.model(**inputs).logits.float().softmax(dim=-1)[0]
        unsafe = float(probs[self.unsafe].sum())
        return SafetyScore(label=self.labels[int(probs.argmax())], unsafe=unsafe)
