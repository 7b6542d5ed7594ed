"""Caption a photo three different ways with BLIP."""

from __future__ import annotations

import torch
from PIL import Image

from pipeline.errors import ModelLoadError

N_CAPTIONS = 3
MAX_NEW_TOKENS = 30


class Captioner:
    """BLIP image captioning: one image in, three different captions out."""

    def __init__(self, model: str, *, device: str, dtype: torch.dtype) -> None:
        from transformers import BlipForConditionalGeneration, BlipProcessor

        try:
            self.processor = BlipProcessor.from_pretrained(model)
            self.model = BlipForConditionalGeneration.from_pretrained(model, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load captioning model {model!r}: {exc}") from exc
        self.model.to(device).eval()  # type: ignore[arg-type]
        self.device, self.dtype = device, dtype

    @torch.inference_mode()
    def caption(self, image: Image.Image, *, seed: int = 0) -> list[str]:
        """Three distinct captions: the best beams, topped up by seeded sampling."""
        inputs = self.processor(images=image, return_tensors="pt").to(self.device, self.dtype)
        beams = self.model.generate(
            **inputs,
            num_beams=N_CAPTIONS,
            num_return_sequences=N_CAPTIONS,
            max_new_tokens=MAX_NEW_TOKENS,
            repetition_penalty=1.3,
        )
        captions = _distinct(self.processor.batch_decode(beams, skip_special_tokens=True))
        torch.manual_seed(seed)
        for _ in range(4):
            if len(captions) >= N_CAPTIONS:
                break
            sampled = self.model.generate(
                **inputs, do_sample=True, top_p=0.9, max_new_tokens=MAX_NEW_TOKENS
            )
            captions = _distinct(
                captions + self.processor.batch_decode(sampled, skip_special_tokens=True)
            )
        while len(captions) < N_CAPTIONS:  # a degenerate model: still three usable lines
            captions.append(f"{captions[0] if captions else 'a photo'} ({len(captions) + 1})")
        return captions[:N_CAPTIONS]


def _distinct(texts: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for text in texts:
        clean = " ".join(text.split()).strip()
        if clean and clean.lower() not in seen:
            seen[clean.lower()] = clean
    return list(seen.values())
