"""The photo classifier: loaded by folder like the other stages, a probability out."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipeline import ModelLoadError
from pipeline.safety import SafetyClassifier
from tests.support.paths import EXAMPLE_PHOTO


def test_the_tiny_classifier_scores_a_photo_as_bytes_or_image(
    tiny_models: dict[str, str],
) -> None:
    classifier = SafetyClassifier(tiny_models["IMMU_SAFETY_MODEL"], device="cpu")
    from_bytes = classifier.score(EXAMPLE_PHOTO.read_bytes())
    from_image = classifier.score(Image.open(EXAMPLE_PHOTO))
    assert 0.0 < from_bytes.unsafe < 1.0 and from_bytes.label in ("normal", "nsfw")
    assert from_bytes == from_image  # the same photo, the same verdict
    grey = classifier.score(Image.new("L", (7, 300), 128))  # odd shape, one channel
    assert 0.0 < grey.unsafe < 1.0


def test_a_classifier_without_an_unsafe_label_is_refused(tmp_path: Path) -> None:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=16, patch_size=8, hidden_size=8, num_hidden_layers=1,
                       num_attention_heads=1, intermediate_size=8,
                       id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1})  # fmt: skip
    ViTForImageClassification(config).save_pretrained(tmp_path)
    ViTImageProcessor(size={"height": 16, "width": 16}).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="no unsafe label"):
        SafetyClassifier(str(tmp_path))


def test_a_missing_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot load safety model"):
        SafetyClassifier(str(tmp_path / "nowhere"))
