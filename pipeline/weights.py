"""Model weights: fetch the real ones, or write tiny random ones for tests and smoke checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.errors import ModelLoadError

# Words the tiny tokenizers know; anything else falls back to characters / [UNK].
_TINY_WORDS = [
    "a",
    "an",
    "the",
    "of",
    "in",
    "on",
    "with",
    "and",
    "at",
    "photo",
    "picture",
    "dog",
    "cat",
    "sea",
    "sky",
    "city",
    "night",
    "man",
    "woman",
    "tree",
    "red",
    "blue",
    "green",
    "sunset",
    "beach",
    "mountain",
    "street",
    "people",
    "car",
    "house",
    "light",
    "dark",
    "music",
    "song",
    "jazz",
    "rock",
    "pop",
    "ambient",
    "piano",
    "guitar",
    "calm",
    "happy",
    "sad",
    "slow",
    "fast",
    "beat",
    "mood",
    "bpm",
]


def download_models(repo_ids: list[str]) -> list[str]:
    """Fetch each model into the Hugging Face cache; returns the local folders."""
    from huggingface_hub import snapshot_download

    folders = []
    for repo_id in repo_ids:
        if Path(repo_id).is_dir():
            folders.append(repo_id)
            continue
        try:
            folders.append(
                snapshot_download(
                    repo_id,
                    allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model"],
                    ignore_patterns=["*.onnx*", "*.msgpack", "*.h5", "*.ckpt"],
                )
            )
        except Exception as exc:  # network, auth, missing repo: one clear line
            raise ModelLoadError(
                f"cannot download {repo_id!r}: {type(exc).__name__}; this host needs "
                "access to the Hugging Face hub (or copy the folder and set its path)"
            ) from exc
    return folders


def write_tiny_models(root: Path) -> dict[str, str]:
    """Tiny random-weight BLIP and Riffusion-shaped models, saved like the real ones.

    Returns the settings (env var -> value) that point IMMU at them.
    """
    root = root.resolve()
    caption = _write_blip(root / "blip", _TINY_BLIP)
    music = _write_riffusion(root / "riffusion", _TINY_SD)
    safety = write_tiny_classifier(root / "safety")
    return {
        "IMMU_CAPTION_MODEL": str(caption),
        "IMMU_MUSIC_MODEL": str(music),
        "IMMU_SAFETY_MODEL": str(safety),
        "IMMU_STEPS": "4",
        "IMMU_GRIFFIN_LIM_ITERS": "4",  # the audio is noise anyway; keep smoke runs quick
    }


def write_tiny_classifier(folder: Path) -> Path:
    """A random-weight ViT image classifier with an NSFW detector's labels (normal/nsfw),
    shaped like ``Falconsai/nsfw_image_detection``: what ``IMMU_MODERATION=auto`` loads."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder.mkdir(parents=True, exist_ok=True)
    size = 32
    config = ViTConfig(
        image_size=size,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        id2label={0: "normal", 1: "nsfw"},
        label2id={"normal": 0, "nsfw": 1},
    )
    torch.manual_seed(0)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(folder)
    return folder


def write_tiny_autoencoder(folder: Path, *, full_size: bool = False) -> Path:
    """A random-weight ``AutoencoderTiny`` (TAESD's architecture when ``full_size``)."""
    from diffusers import AutoencoderTiny

    if full_size:  # madebyollin/taesd: 64 channels, (1, 3, 3, 3) / (3, 3, 3, 1) blocks
        vae = AutoencoderTiny()
    else:
        vae = AutoencoderTiny(
            encoder_block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8),
            num_encoder_blocks=(1, 1, 1, 1),
            num_decoder_blocks=(1, 1, 1, 1),
        )
    vae.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


def write_full_size_models(root: Path) -> dict[str, str]:
    """Random-weight models with the real architectures (BLIP-large, Stable Diffusion 1.5).

    They time exactly like the trained ones, so benchmarks need no download.
    """
    root = root.resolve()
    return {
        "IMMU_CAPTION_MODEL": str(_write_blip(root / "blip-large", _FULL_BLIP)),
        "IMMU_MUSIC_MODEL": str(_write_riffusion(root / "riffusion-v1", _FULL_SD)),
    }


# Architecture sizes. "full" follows Salesforce/blip-image-captioning-large and
# riffusion/riffusion-model-v1 (Stable Diffusion 1.5: UNet 860M, CLIP ViT-L/14 text).
_TINY_BLIP = {"vocab": 0, "text": (32, 2, 2, 37), "vision": (32, 2, 2, 37), "image": 64, "proj": 32}
_FULL_BLIP = {
    "vocab": 30524,
    "text": (768, 12, 12, 3072),
    "vision": (1024, 24, 16, 4096),
    "image": 384,
    "proj": 512,
}
_TINY_SD = {
    "vocab": 0, "text": (32, 2, 2, 37), "unet": (32, 64), "unet_layers": 1, "heads": 4,
    "down": ("DownBlock2D", "CrossAttnDownBlock2D"), "up": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "vae": (8, 8, 8, 8), "vae_layers": 1, "vae_groups": 4,
}  # fmt: skip
_FULL_SD = {
    "vocab": 49408, "text": (768, 12, 12, 3072), "unet": (320, 640, 1280, 1280), "unet_layers": 2, "heads": 8,
    "down": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "vae": (128, 256, 512, 512), "vae_layers": 2, "vae_groups": 32,
}  # fmt: skip


def _write_blip(folder: Path, size: dict[str, Any]) -> Path:
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_TINY_WORDS]
    vocab += [f"[unused{i}]" for i in range(max(0, size["vocab"] - len(vocab)))]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True)
    image = size["image"]
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": image, "width": image}),
        tokenizer=tokenizer,
    )
    (t_hidden, t_layers, t_heads, t_ff), (v_hidden, v_layers, v_heads, v_ff) = (
        size["text"],
        size["vision"],
    )
    config = BlipConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": t_hidden,
            "encoder_hidden_size": v_hidden,
            "num_hidden_layers": t_layers,
            "num_attention_heads": t_heads,
            "intermediate_size": t_ff,
            "max_position_embeddings": 512 if size["vocab"] else 64,
            "bos_token_id": 2,
            "sep_token_id": 3,
            "eos_token_id": 3,
            "pad_token_id": 0,
        },
        vision_config={
            "hidden_size": v_hidden,
            "num_hidden_layers": v_layers,
            "num_attention_heads": v_heads,
            "intermediate_size": v_ff,
            "image_size": image,
            "patch_size": 16,
        },
        projection_dim=size["proj"],
    )
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _write_riffusion(folder: Path, size: dict[str, Any]) -> Path:
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for word in _TINY_WORDS:
        vocab.setdefault(word + "</w>", len(vocab))
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789,.-+":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    for i in range(max(0, size["vocab"] - len(vocab))):
        vocab[f"<unused{i}>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77
    )
    hidden, layers, heads, ff = size["text"]
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=hidden,
            intermediate_size=ff,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            max_position_embeddings=77,
            projection_dim=hidden,
            hidden_act="quick_gelu",
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=size["unet"],
        layers_per_block=size["unet_layers"],
        down_block_types=size["down"],
        up_block_types=size["up"],
        cross_attention_dim=hidden,
        attention_head_dim=size["heads"],
        norm_num_groups=32,
    )
    vae = AutoencoderKL(  # four blocks: the same 8x latent scale as Stable Diffusion's VAE
        in_channels=3,
        out_channels=3,
        block_out_channels=size["vae"],
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        layers_per_block=size["vae_layers"],
        norm_num_groups=size["vae_groups"],
        sample_size=512,
    )
    scheduler = PNDMScheduler(  # Riffusion ships Stable Diffusion's PNDM configuration
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder
