"""Model weights: fetch the real ones, or write tiny random ones for tests and smoke checks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
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


# What IMMU never loads: single-file checkpoints, TorchScript, other frameworks' weights.
_NEVER = (".ckpt", ".pt", ".pth", ".onnx", ".onnx_data", ".msgpack", ".h5", ".tflite", ".pb")
# Folders of a diffusers pipeline that IMMU never loads (it runs without the safety
# checker; its own photo filter is the classifier) or other runtimes' exports.
_SKIP_FOLDERS = frozenset({"safety_checker", "onnx", "openvino", "coreml", "flax"})
_SMALL = (".json", ".txt", ".model")  # configs, vocabularies, sentencepiece models
# The weights files transformers and diffusers load, whole or sharded
# (``model-00001-of-00002.safetensors``); other weights beside them are another tool's
# (madebyollin/taesd's ``taesd_decoder.safetensors``, a root ``*.safetensors`` checkpoint).
_LOADED_WEIGHTS = re.compile(r"(model|pytorch_model|diffusion_pytorch_model)(-\d+-of-\d+)?(\.\w+)?")


@dataclass(frozen=True)
class DownloadPlan:
    """The files of one repository that IMMU loads, with their total size in bytes."""

    files: list[str]
    total: int
    notes: list[str] = field(default_factory=list)


def choose_files(sizes: dict[str, int]) -> DownloadPlan:
    """Pick what IMMU loads from a repository's files (path -> bytes).

    Per folder: the safetensors weights where the folder has them, else the ``.bin``
    ones (a note says so), and only the files the model libraries load (``model``,
    ``pytorch_model``, ``diffusion_pytorch_model``, whole or sharded); no variants
    (``*.fp16.*``: IMMU loads no variant), no single-file checkpoints or other
    frameworks' files; in a diffusers pipeline (a ``model_index.json`` at the root)
    nothing of the root's weights and nothing of the safety checker.
    """
    pipeline = "model_index.json" in sizes
    folders: dict[str, list[str]] = {}
    chosen: list[str] = []
    for path in sorted(sizes):
        folder, _, name = path.rpartition("/")
        parts = path.split("/")[:-1]
        if any(part in _SKIP_FOLDERS for part in parts) or name.endswith(_NEVER):
            continue
        if name.endswith(_SMALL):
            chosen.append(path)
        elif (
            name.endswith((".safetensors", ".bin"))
            and not (pipeline and not folder)
            and _LOADED_WEIGHTS.fullmatch(name.rsplit(".", 1)[0])
        ):
            folders.setdefault(folder, []).append(path)
    notes: list[str] = []
    for folder, weights in folders.items():
        plain = [w for w in weights if not _is_variant(w.rpartition("/")[2])]
        safe = [w for w in plain if w.endswith(".safetensors")]
        bins = [w for w in plain if w.endswith(".bin")]
        where = f"{folder}/" if folder else "the root"
        if safe:
            chosen += safe
        elif bins:
            chosen += bins
            notes.append(f"{where}: no safetensors weights, fetching {', '.join(bins)} instead")
        else:
            notes.append(f"{where}: only variant weights ({', '.join(weights)}), none IMMU loads")
    chosen.sort()
    return DownloadPlan(chosen, sum(sizes[f] for f in chosen), notes)


def _is_variant(name: str) -> bool:
    """``diffusion_pytorch_model.fp16.safetensors``: a variant; ``model-00001-of-00002.safetensors``
    and ``pytorch_model.bin``: not."""
    stem = name.rsplit(".", 1)[0]
    return "." in stem


def download_models(repo_ids: list[str], *, say: Callable[[str], None] = print) -> list[str]:
    """Fetch what IMMU loads of each model into the Hugging Face cache, saying the size
    first and showing a progress bar; returns the local folders."""
    from huggingface_hub import HfApi, snapshot_download
    from tqdm.auto import tqdm

    folders = []
    for repo_id in repo_ids:
        if Path(repo_id).is_dir():
            folders.append(repo_id)
            continue
        try:
            info = HfApi().model_info(repo_id, files_metadata=True)
            plan = choose_files({s.rfilename: s.size or 0 for s in info.siblings or []})
            say(f"{repo_id}: {len(plan.files)} files, {_human(plan.total)}")
            for note in plan.notes:
                say(f"{repo_id}: {note}")
            folders.append(
                snapshot_download(
                    repo_id,  # the main branch, so refs/main is written for offline loads
                    allow_patterns=plan.files,
                    tqdm_class=tqdm,  # a bar even where the hub's own bars are off
                )
            )
        except Exception as exc:  # network, auth, missing repo: one clear line
            raise ModelLoadError(
                f"cannot download {repo_id!r}: {type(exc).__name__}; this host needs "
                "access to the Hugging Face hub (or copy the folder and set its path)"
            ) from exc
    return folders


def _human(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    for unit, scale in (("KB", 1e3), ("MB", 1e6)):
        if size < scale * 1000:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e9:.2f} GB"


def write_tiny_models(root: Path, *, safetensors: bool | None = None) -> dict[str, str]:
    """Tiny random-weight BLIP, Riffusion and photo classifier, in the files and config
    keys that ``immu models download`` fetches of the real repositories.

    The weights come in the formats those repositories hold: ``model.safetensors`` for
    BLIP and the classifier, ``.bin`` files for Riffusion (its main branch has no
    safetensors). ``safetensors=True`` or ``False`` writes every model in that one format.

    Returns the settings (env var -> value) that point IMMU at them.
    """
    root = root.resolve()
    caption = _write_blip(root / "blip", _TINY_BLIP, safetensors=safetensors is not False)
    music = _write_riffusion(root / "riffusion", _TINY_SD, safetensors=bool(safetensors))
    safety = write_tiny_classifier(root / "safety", safetensors=safetensors is not False)
    return {
        "IMMU_CAPTION_MODEL": str(caption),
        "IMMU_MUSIC_MODEL": str(music),
        "IMMU_SAFETY_MODEL": str(safety),
        "IMMU_STEPS": "4",
        "IMMU_GRIFFIN_LIM_ITERS": "4",  # the audio is noise anyway; keep smoke runs quick
    }


def write_tiny_classifier(folder: Path, *, safetensors: bool = True) -> Path:
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
        label2id={"normal": "0", "nsfw": "1"},  # strings, as the real config.json has them
        problem_type="single_label_classification",
    )
    torch.manual_seed(0)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(folder)
    # the labels file the repository holds beside config.json (IMMU reads config.json's)
    (folder / "labels.json").write_text(json.dumps({"0": "normal", "1": "nsfw"}, indent=4))
    if not safetensors:
        _to_bin(folder / "model.safetensors")
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


def _write_blip(folder: Path, size: dict[str, Any], *, safetensors: bool = True) -> Path:
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
    _shape_like_blip(folder, image)
    if not safetensors:
        _to_bin(folder / "model.safetensors")
    return folder


def _shape_like_blip(folder: Path, image: int) -> None:
    """The files Salesforce/blip-image-captioning-large holds besides the weights: no
    ``generation_config.json`` (generation settings come from ``config.json``) and no
    ``processor_config.json``; the image preprocessing in ``preprocessor_config.json``, a
    BERT tokenizer's ``special_tokens_map.json``, ``tokenizer_config.json``,
    ``tokenizer.json`` and ``vocab.txt``, with the real files' keys."""
    (folder / "processor_config.json").unlink(missing_ok=True)
    (folder / "generation_config.json").unlink(missing_ok=True)
    _write_json(
        folder / "preprocessor_config.json",
        {
            "do_normalize": True,
            "do_pad": True,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_processor_type": "BlipImageProcessor",
            "image_std": [0.26862954, 0.26130258, 0.27577711],
            "processor_class": "BlipProcessor",
            "resample": 3,
            "rescale_factor": 0.00392156862745098,
            "size": {"height": image, "width": image},
            "size_divisor": 32,
        },
    )
    special = {
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "unk_token": "[UNK]",
    }
    _write_json(folder / "special_tokens_map.json", special)
    _write_json(
        folder / "tokenizer_config.json",
        {
            **special,
            "do_basic_tokenize": True,
            "do_lower_case": True,
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": 512,
            "name_or_path": "Salesforce/blip-image-captioning-large",
            "never_split": None,
            "processor_class": "BlipProcessor",
            "special_tokens_map_file": None,
            "strip_accents": None,
            "tokenize_chinese_chars": True,
            "tokenizer_class": "BertTokenizer",
        },
    )


def _write_riffusion(folder: Path, size: dict[str, Any], *, safetensors: bool = True) -> Path:
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
    words = folder / "tokenizer"
    words.mkdir(exist_ok=True)
    (words / "vocab.json").write_text(json.dumps(vocab))
    (words / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(
        str(words / "vocab.json"), str(words / "merges.txt"), model_max_length=77
    )
    hidden, layers, heads, ff = size["text"]
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(  # type: ignore[call-arg]  # dropout: kept as an extra key
            vocab_size=len(vocab),
            hidden_size=hidden,
            intermediate_size=ff,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            max_position_embeddings=77,
            projection_dim=hidden,
            hidden_act="quick_gelu",
            dropout=0.0,  # a key of the real text_encoder/config.json, unused today
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
    pipe.save_pretrained(folder, safe_serialization=safetensors)  # type: ignore[attr-defined]
    _shape_like_riffusion(folder)
    if not safetensors:  # transformers saves safetensors only: convert the text encoder's
        _to_bin(folder / "text_encoder" / "model.safetensors")
    return folder


# riffusion/riffusion-model-v1 was uploaded with diffusers 0.4.0; its configs hold only the
# keys that version wrote, and today's diffusers fills in the rest with its defaults.
_RIFFUSION_DIFFUSERS = "0.4.0"
_RIFFUSION_UNET_KEYS = (
    "act_fn", "attention_head_dim", "block_out_channels", "center_input_sample",
    "cross_attention_dim", "down_block_types", "downsample_padding", "flip_sin_to_cos",
    "freq_shift", "in_channels", "layers_per_block", "mid_block_scale_factor", "norm_eps",
    "norm_num_groups", "out_channels", "sample_size", "up_block_types",
)  # fmt: skip
_RIFFUSION_VAE_KEYS = (
    "act_fn", "block_out_channels", "down_block_types", "in_channels", "latent_channels",
    "layers_per_block", "norm_num_groups", "out_channels", "sample_size", "up_block_types",
)  # fmt: skip
_CLIP_MEAN, _CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


def _shape_like_riffusion(folder: Path) -> None:
    """The files and config keys of riffusion/riffusion-model-v1 besides the weights: its
    ``model_index.json`` names the safety checker and its feature extractor (IMMU loads
    neither; the safety checker's folder is one ``immu models download`` skips),
    ``feature_extractor/`` holds the CLIP preprocessing, ``tokenizer/`` the four files of
    a slow CLIP tokenizer, and ``scheduler/``, ``unet/`` and ``vae/`` the configs diffusers
    0.4.0 wrote."""
    _write_json(
        folder / "model_index.json",
        {
            "_class_name": "StableDiffusionPipeline",
            "_diffusers_version": _RIFFUSION_DIFFUSERS,
            "feature_extractor": ["transformers", "CLIPImageProcessor"],
            "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
            "scheduler": ["diffusers", "PNDMScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
    )
    _write_json(  # Stable Diffusion's PNDM configuration, as Riffusion ships it
        folder / "scheduler" / "scheduler_config.json",
        {
            "_class_name": "PNDMScheduler",
            "_diffusers_version": _RIFFUSION_DIFFUSERS,
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "beta_start": 0.00085,
            "num_train_timesteps": 1000,
            "set_alpha_to_one": False,
            "skip_prk_steps": True,
            "steps_offset": 1,
            "trained_betas": None,
        },
    )
    for part, keys in (("unet", _RIFFUSION_UNET_KEYS), ("vae", _RIFFUSION_VAE_KEYS)):
        config = json.loads((folder / part / "config.json").read_text())
        _write_json(
            folder / part / "config.json",
            {
                "_class_name": config["_class_name"],
                "_diffusers_version": _RIFFUSION_DIFFUSERS,
                **{key: config[key] for key in keys},
            },
        )
    _write_json(
        folder / "feature_extractor" / "preprocessor_config.json",
        {
            "crop_size": 224,
            "do_center_crop": True,
            "do_convert_rgb": True,
            "do_normalize": True,
            "do_resize": True,
            "feature_extractor_type": "CLIPFeatureExtractor",
            "image_mean": _CLIP_MEAN,
            "image_std": _CLIP_STD,
            "resample": 3,
            "size": 224,
        },
    )
    words = folder / "tokenizer"
    (words / "tokenizer.json").unlink(missing_ok=True)  # the real folder has none
    token = {"lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    start, end = "<|startoftext|>", "<|endoftext|>"
    _write_json(
        words / "special_tokens_map.json",
        {
            "bos_token": {"content": start, **token},
            "eos_token": {"content": end, **token},
            "pad_token": end,
            "unk_token": {"content": end, **token},
        },
    )
    _write_json(
        words / "tokenizer_config.json",
        {
            "add_prefix_space": False,
            "bos_token": {"__type": "AddedToken", "content": start, **token},
            "do_lower_case": True,
            "eos_token": {"__type": "AddedToken", "content": end, **token},
            "errors": "replace",
            "model_max_length": 77,
            "name_or_path": "openai/clip-vit-large-patch14",  # as Stable Diffusion 1.5's
            "pad_token": end,
            "special_tokens_map_file": "./special_tokens_map.json",
            "tokenizer_class": "CLIPTokenizer",
            "unk_token": {"__type": "AddedToken", "content": end, **token},
        },
    )


def _to_bin(weights: Path) -> None:
    """``model.safetensors`` -> ``pytorch_model.bin``, the file an older repository holds."""
    if not weights.exists():  # saved as .bin already
        return
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(weights), weights.with_name("pytorch_model.bin"))
    weights.unlink()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
