"""Model weights: fetch the real ones, or write tiny random ones for tests and smoke checks."""

from __future__ import annotations

import json
from pathlib import Path

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
    root.mkdir(parents=True, exist_ok=True)
    caption = _write_tiny_blip(root / "blip")
    music = _write_tiny_riffusion(root / "riffusion")
    return {
        "IMMU_CAPTION_MODEL": str(caption),
        "IMMU_MUSIC_MODEL": str(music),
        "IMMU_STEPS": "4",
        "IMMU_GRIFFIN_LIM_ITERS": "4",  # the audio is noise anyway; keep smoke runs quick
    }


def _write_tiny_blip(folder: Path) -> Path:
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_TINY_WORDS]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True)
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 64, "width": 64}), tokenizer=tokenizer
    )
    config = BlipConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 37,
            "max_position_embeddings": 64,
            "bos_token_id": 2,
            "sep_token_id": 3,
            "eos_token_id": 3,
            "pad_token_id": 0,
        },
        vision_config={
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 37,
            "image_size": 64,
            "patch_size": 16,
        },
        projection_dim=32,
    )
    import torch

    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _write_tiny_riffusion(folder: Path) -> Path:
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
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77
    )

    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(  # four blocks: the same 8x latent scale as Stable Diffusion's VAE
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 8, 8, 8),
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4,
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
