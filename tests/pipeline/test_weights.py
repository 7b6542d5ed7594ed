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

GB, MB = 1_000_000_000, 1_000_000

# Shaped like riffusion/riffusion-model-v1: two root checkpoints, the diffusers folders,
# .bin weights with safetensors beside some of them, fp16 variants, a traced UNet.
RIFFUSION = {
    ".gitattributes": 1_500,
    "README.md": 3_000,
    "model_index.json": 550,
    "riffusion-model-v1.ckpt": 14_580_603_928,
    "riffusion-model-v1.safetensors": 4_265_097_179,
    "unet_traced.pt": 3_500 * MB,
    "feature_extractor/preprocessor_config.json": 342,
    "safety_checker/config.json": 4_700,
    "safety_checker/pytorch_model.bin": 1_216 * MB,
    "scheduler/scheduler_config.json": 300,
    "text_encoder/config.json": 600,
    "text_encoder/pytorch_model.bin": 492 * MB,
    "tokenizer/merges.txt": 525_000,
    "tokenizer/special_tokens_map.json": 500,
    "tokenizer/tokenizer_config.json": 800,
    "tokenizer/vocab.json": 1_060_000,
    "unet/config.json": 800,
    "unet/diffusion_pytorch_model.bin": 3_438 * MB,
    "unet/diffusion_pytorch_model.safetensors": 3_438 * MB,
    "unet/diffusion_pytorch_model.fp16.safetensors": 1_719 * MB,
    "vae/config.json": 550,
    "vae/diffusion_pytorch_model.bin": 335 * MB,
    "vae/diffusion_pytorch_model.fp16.safetensors": 167 * MB,
}
BLIP = {
    ".gitattributes": 1_500,
    "README.md": 4_000,
    "config.json": 4_600,
    "model.safetensors": 1_879 * MB,
    "preprocessor_config.json": 445,
    "pytorch_model.bin": 1_879 * MB,
    "special_tokens_map.json": 125,
    "tf_model.h5": 1_880 * MB,
    "tokenizer.json": 711_000,
    "tokenizer_config.json": 506,
    "vocab.txt": 232_000,
}
NSFW = {
    "config.json": 700,
    "model.safetensors": 343 * MB,
    "preprocessor_config.json": 325,
    "pytorch_model.bin": 343 * MB,
}
TAESD = {
    "README.md": 2_000,
    "config.json": 700,
    "diffusion_pytorch_model.bin": 9_800_000,
    "diffusion_pytorch_model.safetensors": 9_800_000,
    "taesd_decoder.pth": 4_900_000,
    "taesd_encoder.pth": 4_900_000,
    "taesd_decoder.onnx": 4_900_000,
}


def test_riffusion_takes_each_folders_loadable_weights_and_nothing_it_never_loads() -> None:
    plan = choose_files(RIFFUSION)
    assert plan.files == [
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
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.bin",
    ]
    assert plan.total == sum(RIFFUSION[f] for f in plan.files)
    assert 4 * GB < plan.total < 4.5 * GB  # not the 14.6 GB checkpoint, not the checker
    assert len(plan.notes) == 2
    assert "text_encoder/" in plan.notes[0] and "pytorch_model.bin" in plan.notes[0]
    assert "vae/" in plan.notes[1] and "diffusion_pytorch_model.bin" in plan.notes[1]


@pytest.mark.parametrize(
    ("files", "weights"),
    [
        (BLIP, "model.safetensors"),
        (NSFW, "model.safetensors"),
        (TAESD, "diffusion_pytorch_model.safetensors"),
    ],
    ids=["blip", "nsfw", "taesd"],
)
def test_a_single_model_repository_takes_its_safetensors(
    files: dict[str, int], weights: str
) -> None:
    plan = choose_files(files)
    assert weights in plan.files and not plan.notes
    assert not [f for f in plan.files if f.endswith((".bin", ".h5", ".pth", ".onnx", ".md"))]
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
    assert len(said) == 3 and "vae/" in said[2]
    assert fetched["allow_patterns"] == choose_files(RIFFUSION).files
    assert fetched.get("revision") is None  # main: the cache then records refs/main
    assert fetched["tqdm_class"] is not None


def test_tiny_models_have_the_real_repositories_layout(tiny_models: dict[str, str]) -> None:
    music = Path(tiny_models["IMMU_MUSIC_MODEL"])
    index = json.loads((music / "model_index.json").read_text())
    assert index["safety_checker"] == ["stable_diffusion", "StableDiffusionSafetyChecker"]
    assert index["feature_extractor"] == ["transformers", "CLIPFeatureExtractor"]
    assert index["scheduler"] == ["diffusers", "PNDMScheduler"]
    scheduler = json.loads((music / "scheduler" / "scheduler_config.json").read_text())
    assert {
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
    }.items() <= scheduler.items()
    tokenizer = {p.name for p in (music / "tokenizer").iterdir()}
    assert tokenizer == {
        "vocab.json",
        "merges.txt",
        "special_tokens_map.json",
        "tokenizer_config.json",
    }
    assert (music / "feature_extractor" / "preprocessor_config.json").is_file()
    assert not (music / "vocab.json").exists() and not (music / "safety_checker").exists()
    # what `immu models download` would fetch of it is all of it
    sizes = {str(p.relative_to(music)): p.stat().st_size for p in music.rglob("*") if p.is_file()}
    assert sorted(sizes) == choose_files(sizes).files

    blip = Path(tiny_models["IMMU_CAPTION_MODEL"])
    assert {p.name for p in blip.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "vocab.txt",
    }
    assert not (blip / "processor_config.json").exists()
    processor = json.loads((blip / "preprocessor_config.json").read_text())
    assert processor["image_processor_type"] == "BlipImageProcessor"
    safety = Path(tiny_models["IMMU_SAFETY_MODEL"])
    assert {p.name for p in safety.iterdir()} == {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    }


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
