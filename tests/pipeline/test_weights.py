"""Model weights: which files a download takes, the tiny models' layout, loading offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from pipeline.captioner import Captioner
from pipeline.generator import SpectrogramGenerator
from pipeline.safety import SafetyClassifier
from pipeline.weights import choose_files, download_models, write_tiny_models
from tests.support.paths import ROOT

GB, MB, KB = 1_000_000_000, 1_000_000, 1_000

# The real repositories' files (main branch) and their sizes in bytes: exact where a
# Git LFS pointer gives them, else the hub's rounded figure ("3.44 GB"); a few sizes no
# source showed are stand-ins, marked. Sources, huggingface.co pages:
#   riffusion/riffusion-model-v1: tree/f0268ef7a8a4 (root), tree/refs%2Fpr%2F29 (main's
#   root plus one unmerged commit; model_index.json is 541 B since feature_extractor
#   names CLIPImageProcessor), tree/refs%2Fpr%2F31/unet and /vae (main's folders: .bin
#   only; the safetensors conversions are open pull requests), commit/f0268ef7a8a4 (the
#   pruned checkpoint), blob/main/scheduler/scheduler_config.json,
#   blob/main/tokenizer/special_tokens_map.json,
#   blob/4aefdfb486e2/feature_extractor/preprocessor_config.json; hub_download of
#   "unet_traced.pt" from subfolder "unet_traced" in github.com/riffusion/riffusion-hobby
#   (riffusion/server.py); 14.6 GB for the full checkpoint from the model card of
#   GitMylo/riffusion-model-v1-small. The repository also holds seed_images/ (PNGs).
RIFFUSION = {
    ".gitattributes": 1_480,
    "README.md": 4_960,
    "model_index.json": 541,
    "riffusion-model-v1.ckpt": 14_600 * MB,
    "riffusion-model-v1-pruned.ckpt": 3_852_196_372,
    "feature_extractor/preprocessor_config.json": 342,
    "safety_checker/config.json": 4_700,  # stand-in: size not confirmed
    "safety_checker/pytorch_model.bin": 1_216 * MB,  # stand-in: the safetensors copy's size
    "scheduler/scheduler_config.json": 284,
    "text_encoder/config.json": 600,  # stand-in: size not confirmed
    "text_encoder/pytorch_model.bin": 492 * MB,  # stand-in: the safetensors copy's 492 MB
    "tokenizer/merges.txt": 525 * KB,  # stand-in: Stable Diffusion 1.5's CLIP tokenizer
    "tokenizer/special_tokens_map.json": 472,
    "tokenizer/tokenizer_config.json": 806,  # stand-in: Stable Diffusion 1.5's
    "tokenizer/vocab.json": 1_060 * KB,  # stand-in: Stable Diffusion 1.5's CLIP tokenizer
    "unet/config.json": 743,
    "unet/diffusion_pytorch_model.bin": 3_440 * MB,
    "unet_traced/unet_traced.pt": 1_720 * MB,  # stand-in: size not confirmed
    "vae/config.json": 547,
    "vae/diffusion_pytorch_model.bin": 335 * MB,
}
# Salesforce/blip-image-captioning-large: tree/353689b859fc.
BLIP = {
    ".gitattributes": 1_480,
    "README.md": 6_190,
    "config.json": 4_600,
    "model.safetensors": 1_880 * MB,
    "preprocessor_config.json": 445,
    "pytorch_model.bin": 1_880 * MB,
    "special_tokens_map.json": 125,
    "tf_model.h5": 1_880 * MB,
    "tokenizer.json": 711 * KB,
    "tokenizer_config.json": 527,
    "vocab.txt": 232 * KB,
}
# Falconsai/nsfw_image_detection: tree/main.
NSFW = {
    ".gitattributes": 1_520,
    "README.md": 9_140,
    "config.json": 724,
    "falconsai_yolov9_nsfw_model_quantized.pt": 87_100 * KB,
    "labels.json": 38,
    "model.safetensors": 343 * MB,
    "optimizer.pt": 687 * MB,
    "preprocessor_config.json": 325,
    "pytorch_model.bin": 343 * MB,
}
# madebyollin/taesd: commit/931366cc24b8 (the four weights files, LFS pointers) and
# commit/f4a5c744c09b (config.json, the diffusers weights beside the original ones).
TAESD = {
    ".gitattributes": 1_520,
    "README.md": 2_000,  # stand-in: size not confirmed
    "config.json": 800,  # stand-in: size not confirmed
    "diffusion_pytorch_model.bin": 9_832_437,
    "diffusion_pytorch_model.safetensors": 9_793_292,
    "taesd_decoder.safetensors": 4_895_612,
    "taesd_encoder.safetensors": 4_895_600,
}

# The keys of the real configs: the same sources, the blob page of each file. Riffusion's
# unet/ and vae/config.json: blob/refs%2Fpr%2F31/... (its unet file differs from main's in
# the value of sample_size only). Riffusion's model_index.json: the components of the
# pipelines saved from it (huggingface.co/ivillar/riff-pix2pix-test,
# blob/main/model_index.json) with the sizes of its tree (543 B with CLIPFeatureExtractor,
# 541 B with CLIPImageProcessor, which these keys give; no requires_safety_checker).
# Riffusion's tokenizer_config.json and text_encoder/config.json: as re-saved from its
# snapshots (huggingface.co/anton-l/dream-sna2, flax/riffusion-model-v1). BLIP's
# special_tokens_map.json: the BERT tokenizer's five tokens (125 B, as in the tree).
REAL_CONFIG_KEYS = {
    "riffusion/model_index.json": [
        "_class_name", "_diffusers_version", "feature_extractor", "safety_checker",
        "scheduler", "text_encoder", "tokenizer", "unet", "vae",
    ],
    "riffusion/scheduler/scheduler_config.json": [
        "_class_name", "_diffusers_version", "beta_end", "beta_schedule", "beta_start",
        "num_train_timesteps", "set_alpha_to_one", "skip_prk_steps", "steps_offset",
        "trained_betas",
    ],
    "riffusion/unet/config.json": [
        "_class_name", "_diffusers_version", "act_fn", "attention_head_dim",
        "block_out_channels", "center_input_sample", "cross_attention_dim",
        "down_block_types", "downsample_padding", "flip_sin_to_cos", "freq_shift",
        "in_channels", "layers_per_block", "mid_block_scale_factor", "norm_eps",
        "norm_num_groups", "out_channels", "sample_size", "up_block_types",
    ],
    "riffusion/vae/config.json": [
        "_class_name", "_diffusers_version", "act_fn", "block_out_channels",
        "down_block_types", "in_channels", "latent_channels", "layers_per_block",
        "norm_num_groups", "out_channels", "sample_size", "up_block_types",
    ],
    "riffusion/feature_extractor/preprocessor_config.json": [
        "crop_size", "do_center_crop", "do_convert_rgb", "do_normalize", "do_resize",
        "feature_extractor_type", "image_mean", "image_std", "resample", "size",
    ],
    "riffusion/tokenizer/special_tokens_map.json": [
        "bos_token", "eos_token", "pad_token", "unk_token",
    ],
    "riffusion/tokenizer/tokenizer_config.json": [
        "add_prefix_space", "bos_token", "do_lower_case", "eos_token", "errors",
        "model_max_length", "name_or_path", "pad_token", "special_tokens_map_file",
        "tokenizer_class", "unk_token",
    ],
    "blip/preprocessor_config.json": [
        "do_normalize", "do_pad", "do_rescale", "do_resize", "image_mean",
        "image_processor_type", "image_std", "processor_class", "resample",
        "rescale_factor", "size", "size_divisor",
    ],
    "blip/special_tokens_map.json": [
        "cls_token", "mask_token", "pad_token", "sep_token", "unk_token",
    ],
    "blip/tokenizer_config.json": [
        "cls_token", "do_basic_tokenize", "do_lower_case", "mask_token",
        "model_input_names", "model_max_length", "name_or_path", "never_split",
        "pad_token", "processor_class", "sep_token", "special_tokens_map_file",
        "strip_accents", "tokenize_chinese_chars", "tokenizer_class", "unk_token",
    ],
    "safety/preprocessor_config.json": [
        "do_normalize", "do_rescale", "do_resize", "image_mean", "image_processor_type",
        "image_std", "resample", "rescale_factor", "size",
    ],
    "safety/labels.json": ["0", "1"],
}  # fmt: skip
# Model configs that the installed transformers writes: each must hold every key of the
# real file. Listed without _name_or_path, torch_dtype and transformers_version, which
# each transformers version writes its own way (or not at all).
REAL_MODEL_CONFIG_KEYS = {
    "riffusion/text_encoder/config.json": [
        "architectures", "attention_dropout", "bos_token_id", "dropout", "eos_token_id",
        "hidden_act", "hidden_size", "initializer_factor", "initializer_range",
        "intermediate_size", "layer_norm_eps", "max_position_embeddings", "model_type",
        "num_attention_heads", "num_hidden_layers", "pad_token_id", "projection_dim",
        "vocab_size",
    ],
    # blip-image-captioning-large's top level, as configs saved from it hold it
    # (huggingface.co/aisak-ai/aisak-visual, commit d260a1526911)
    "blip/config.json": [
        "architectures", "image_text_hidden_size", "initializer_factor",
        "initializer_range", "logit_scale_init_value", "model_type", "projection_dim",
        "text_config", "vision_config",
    ],
    # Falconsai/nsfw_image_detection (huggingface.co/Deepdive404/nsfw_image_detection,
    # a duplicate of its main branch, blob/main/config.json)
    "safety/config.json": [
        "architectures", "attention_probs_dropout_prob", "encoder_stride", "hidden_act",
        "hidden_dropout_prob", "hidden_size", "id2label", "image_size", "initializer_range",
        "intermediate_size", "label2id", "layer_norm_eps", "model_type",
        "num_attention_heads", "num_channels", "num_hidden_layers", "patch_size",
        "problem_type", "qkv_bias",
    ],
}  # fmt: skip


# What `immu models download` fetches of each.
RIFFUSION_DOWNLOAD = [
    "feature_extractor/preprocessor_config.json",
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/pytorch_model.bin",
    "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.bin",
    "vae/config.json",
    "vae/diffusion_pytorch_model.bin",
]
BLIP_DOWNLOAD = [
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
]
NSFW_DOWNLOAD = ["config.json", "labels.json", "model.safetensors", "preprocessor_config.json"]
TAESD_DOWNLOAD = ["config.json", "diffusion_pytorch_model.safetensors"]


def test_riffusion_takes_each_folders_loadable_weights_and_nothing_it_never_loads() -> None:
    plan = choose_files(RIFFUSION)
    assert plan.files == RIFFUSION_DOWNLOAD
    assert plan.total == sum(RIFFUSION[f] for f in plan.files)
    assert 4 * GB < plan.total < 4.5 * GB  # not the 14.6 GB checkpoint, not the checker
    assert len(plan.notes) == 3  # main holds .bin weights only
    for note, folder in zip(plan.notes, ["text_encoder/", "unet/", "vae/"], strict=True):
        assert note.startswith(folder) and ".bin" in note


@pytest.mark.parametrize(
    ("files", "chosen"),
    [(BLIP, BLIP_DOWNLOAD), (NSFW, NSFW_DOWNLOAD), (TAESD, TAESD_DOWNLOAD)],
    ids=["blip", "nsfw", "taesd"],
)
def test_a_single_model_repository_takes_its_safetensors(
    files: dict[str, int], chosen: list[str]
) -> None:
    plan = choose_files(files)
    # no .bin, TensorFlow, TorchScript or optimizer state, and not TAESD's original-format
    # taesd_*.safetensors: only what transformers and diffusers load
    assert plan.files == chosen and not plan.notes
    assert plan.total == sum(files[f] for f in plan.files)


def test_a_bin_only_single_model_takes_its_bin_and_says_so() -> None:
    plan = choose_files({"config.json": 10, "pytorch_model.bin": 1_000, "flax_model.msgpack": 9})
    assert plan.files == ["config.json", "pytorch_model.bin"] and plan.total == 1_010
    assert plan.notes == ["the root: no safetensors weights, fetching pytorch_model.bin instead"]


def test_sharded_weights_are_all_taken() -> None:
    files = {
        "config.json": 1,
        "model.safetensors.index.json": 1,
        "model-00001-of-00002.safetensors": 5,
        "model-00002-of-00002.safetensors": 5,
        "pytorch_model-00001-of-00002.bin": 5,
    }
    plan = choose_files(files)
    assert plan.files == sorted(
        [
            "config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json",
        ]
    )


def test_download_says_the_size_then_fetches_only_the_chosen_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub
    from huggingface_hub.hf_api import ModelInfo

    def model_info(self: object, repo_id: str, **kwargs: object) -> ModelInfo:
        assert kwargs.get("files_metadata") is True
        siblings = [{"rfilename": name, "size": size} for name, size in RIFFUSION.items()]
        return ModelInfo(id=repo_id, sha="a" * 40, siblings=siblings)

    fetched: dict[str, object] = {}

    def snapshot_download(repo_id: str, **kwargs: object) -> str:
        fetched.update(kwargs, repo_id=repo_id)
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    said: list[str] = []
    assert download_models(["riffusion/riffusion-model-v1"], say=said.append) == [str(tmp_path)]
    assert said[0] == "riffusion/riffusion-model-v1: 13 files, 4.27 GB"
    assert len(said) == 4 and "vae/" in said[3]
    assert fetched["allow_patterns"] == choose_files(RIFFUSION).files
    assert fetched.get("revision") is None  # main: the cache then records refs/main
    assert fetched["tqdm_class"] is not None


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def test_tiny_models_have_the_real_repositories_files_and_config_keys(
    tiny_models: dict[str, str],
) -> None:
    root = Path(tiny_models["IMMU_MUSIC_MODEL"]).parent
    music, blip, safety = (
        Path(tiny_models[key])
        for key in ("IMMU_MUSIC_MODEL", "IMMU_CAPTION_MODEL", "IMMU_SAFETY_MODEL")
    )
    # each folder holds the files `immu models download` fetches of the real repository
    # (and the download would fetch all of the folder)
    for folder, real in [(music, RIFFUSION), (blip, BLIP), (safety, NSFW)]:
        files = _files(folder)
        assert sorted(files) == choose_files(real).files == choose_files(files).files
    for name, keys in REAL_CONFIG_KEYS.items():
        assert sorted(json.loads((root / name).read_text())) == sorted(keys), name
    for name, keys in REAL_MODEL_CONFIG_KEYS.items():
        missing = set(keys) - set(json.loads((root / name).read_text()))
        assert not missing, f"{name} lacks {sorted(missing)}"

    index = json.loads((music / "model_index.json").read_text())
    assert index["safety_checker"] == ["stable_diffusion", "StableDiffusionSafetyChecker"]
    assert index["feature_extractor"] == ["transformers", "CLIPImageProcessor"]
    assert index["scheduler"] == ["diffusers", "PNDMScheduler"]
    scheduler = json.loads((music / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler == {
        "_class_name": "PNDMScheduler",
        "_diffusers_version": "0.4.0",
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "num_train_timesteps": 1000,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "trained_betas": None,
    }
    labels = json.loads((safety / "config.json").read_text())["id2label"]
    assert (
        labels == json.loads((safety / "labels.json").read_text()) == {"0": "normal", "1": "nsfw"}
    )


def _load_stages(env: dict[str, str]) -> None:
    """The stages as the bot builds them, each run once."""
    photo = Image.new("RGB", (48, 40), "teal")
    captions = Captioner(env["IMMU_CAPTION_MODEL"], device="cpu", dtype=torch.float32)
    assert len(captions.caption(photo)) == 3
    music = SpectrogramGenerator(
        env["IMMU_MUSIC_MODEL"], device="cpu", dtype=torch.float32, steps=1, guidance=7.0
    )
    (image,) = music.render(["jazz"], [0], steps=1)
    assert image.size == (512, 512)
    assert 0 < SafetyClassifier(env["IMMU_SAFETY_MODEL"]).score(photo).unsafe < 1


def test_bin_only_models_load_through_the_stages(tmp_path: Path) -> None:
    env = write_tiny_models(tmp_path, safetensors=False)
    weights = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.bin"))
    assert weights == [
        "blip/pytorch_model.bin",
        "riffusion/text_encoder/pytorch_model.bin",
        "riffusion/unet/diffusion_pytorch_model.bin",
        "riffusion/vae/diffusion_pytorch_model.bin",
        "safety/pytorch_model.bin",
    ]
    assert not list(tmp_path.rglob("*.safetensors"))
    music = tmp_path / "riffusion"
    sizes = {str(p.relative_to(music)): p.stat().st_size for p in music.rglob("*") if p.is_file()}
    assert len(choose_files(sizes).notes) == 3  # unet, vae, text encoder: .bin instead
    _load_stages(env)


_OFFLINE_LOAD = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("this test has no network")
socket.socket.connect = refuse
socket.create_connection = refuse
sys.path.insert(0, sys.argv[1])
from tests.pipeline.test_weights import _load_stages
_load_stages({
    "IMMU_CAPTION_MODEL": "Salesforce/blip-image-captioning-large",
    "IMMU_MUSIC_MODEL": "riffusion/riffusion-model-v1",
    "IMMU_SAFETY_MODEL": "Falconsai/nsfw_image_detection",
})
print("loaded offline")
"""


def test_the_stages_load_by_hub_id_from_a_copied_cache_offline(
    tiny_models: dict[str, str], tmp_path: Path
) -> None:
    """The tiny folders hold what `immu models download` fetches of the real repositories
    (the files, config keys and weights formats checked above): the stages load that."""
    hub = tmp_path / "hf" / "hub"
    revision = "0123456789abcdef0123456789abcdef01234567"
    for repo, key in [
        ("Salesforce/blip-image-captioning-large", "IMMU_CAPTION_MODEL"),
        ("riffusion/riffusion-model-v1", "IMMU_MUSIC_MODEL"),
        ("Falconsai/nsfw_image_detection", "IMMU_SAFETY_MODEL"),
    ]:
        cached = hub / ("models--" + repo.replace("/", "--"))
        shutil.copytree(tiny_models[key], cached / "snapshots" / revision)
        (cached / "refs").mkdir()
        (cached / "refs" / "main").write_text(revision)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", _OFFLINE_LOAD, str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded offline" in result.stdout
