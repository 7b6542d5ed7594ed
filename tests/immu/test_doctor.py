"""``immu doctor`` as an operator runs it: a subprocess against the fake Bot API, tiny models."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from immu.doctor import missing_weights
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture()
def good_env(tg: FakeTelegram, tiny_models: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **tiny_models,
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_URL": tg.url,
        "IMMU_CHANNEL": "@immu_feed",
        "IMMU_DATA_DIR": str(tmp_path / "data"),
    }


def _doctor(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, tuple[bool, str]]]:
    """The exit status, and each table line's check -> (✓, the rest of the line)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("IMMU_", "TELEGRAM_"))}
    clean.pop("OPENAI_API_KEY", None), clean.pop("OPENAI_BASE_URL", None)
    full_env = {**clean, "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8", **env}
    result = subprocess.run(
        [sys.executable, "-m", "immu.cli", "doctor"],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    lines: dict[str, tuple[bool, str]] = {}
    name = ""
    for row in result.stdout.splitlines():
        cells = [cell.strip() for cell in row.split("│")]
        if len(cells) == 6 and cells[1] in ("✓", "✗"):
            name = cells[2]
            lines[name] = (cells[1] == "✓", " ".join(cells[3:5]))
        elif len(cells) == 6 and name and not cells[1]:  # a cell wrapped onto a next row
            lines[name] = (lines[name][0], " ".join([lines[name][1], *cells[3:5]]))
    assert lines, result.stdout
    return result.returncode, lines


def test_a_good_host_passes_every_check(good_env: dict[str, str], tmp_path: Path) -> None:
    code, lines = _doctor(good_env, tmp_path)
    assert code == 0, lines
    assert all(ok for ok, _ in lines.values()), lines
    for name in ("Python", "torch", "transformers", "diffusers", "python-telegram-bot"):
        assert name in lines
    assert "CPU only" in lines["GPU"][1]  # this host has no GPU: a note, not a failure
    assert lines["ffmpeg"][1].startswith("ffmpeg version")
    assert good_env["IMMU_MUSIC_MODEL"] in lines["music model"][1]
    assert "@immu_feed" in lines["channel"][1] and "administrator" in lines["channel"][1]
    assert "offline brief" in lines["language model"][1]
    assert "GB free" in lines["data folder"][1]


def test_a_wrong_token_fails_the_telegram_line(
    good_env: dict[str, str], tg: FakeTelegram, tmp_path: Path
) -> None:
    wrong = "123456:WRONG-token"
    code, lines = _doctor({**good_env, "TELEGRAM_BOT_TOKEN": wrong}, tmp_path)
    assert code == 1
    ok, text = lines["Telegram"]
    assert not ok and "TELEGRAM_BOT_TOKEN" in text and "Unauthorized" in text
    assert wrong not in text


def test_a_channel_where_the_bot_is_no_admin_fails(
    good_env: dict[str, str], tg: FakeTelegram, tmp_path: Path
) -> None:
    tg.bot_is_channel_admin = False
    code, lines = _doctor(good_env, tmp_path)
    assert code == 1
    assert lines["Telegram"][0]
    ok, text = lines["channel"]
    assert not ok and "member" in text and "administrator" in text


def test_a_music_model_without_its_unet_weights_fails(
    good_env: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "riffusion"
    shutil.copytree(good_env["IMMU_MUSIC_MODEL"], broken)
    for weights in (broken / "unet").glob("diffusion_pytorch_model.*"):
        weights.unlink()
    code, lines = _doctor({**good_env, "IMMU_MUSIC_MODEL": str(broken)}, tmp_path)
    assert code == 1
    ok, text = lines["music model"]
    assert not ok and "unet/" in text and "immu models download" in text
    assert lines["caption model"][0]


def test_a_local_language_model_without_a_key_is_reached(
    good_env: dict[str, str], tmp_path: Path
) -> None:
    llm = FakeOpenAI().start()
    llm.api_key = None  # like Ollama or vLLM
    try:
        env = {**good_env, "IMMU_LLM_BASE_URL": llm.base_url, "IMMU_LLM_MODEL": "llama3.1:8b"}
        code, lines = _doctor(env, tmp_path)
        assert code == 0 and lines["language model"][0]
        assert "llama3.1:8b" in lines["language model"][1]
        assert [r["model"] for r in llm.requests] == ["llama3.1:8b"]
    finally:
        llm.stop()
    # a language model that does not answer is a ✗, but the bot still starts: offline brief
    code, lines = _doctor(env, tmp_path)
    assert code == 0
    ok, text = lines["language model"]
    assert not ok and "offline" in text


def test_an_unreachable_ray_cluster_fails(good_env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as held:  # a bound port that never listens
        held.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{held.getsockname()[1]}"
        env = {**good_env, "IMMU_COMPOSER": "ray", "IMMU_RAY_ADDRESS": address}
        code, lines = _doctor(env, tmp_path)
    assert code == 1
    ok, text = lines["Ray cluster"]
    assert not ok and address in text and "IMMU_RAY_ADDRESS" in text


def test_missing_weights_reads_what_the_configs_imply(
    tiny_models: dict[str, str], tmp_path: Path
) -> None:
    blip = tmp_path / "blip"
    shutil.copytree(tiny_models["IMMU_CAPTION_MODEL"], blip)
    assert missing_weights(blip) is None
    (blip / "model.safetensors").rename(blip / "pytorch_model.bin")
    assert missing_weights(blip) is None  # the older weights format counts too
    (blip / "pytorch_model.bin").unlink()
    assert missing_weights(blip) == "no weights file (model.safetensors or pytorch_model.bin)"
    (blip / "config.json").unlink()
    assert missing_weights(blip) == "no config.json or model_index.json"

    music = tmp_path / "riffusion"
    shutil.copytree(tiny_models["IMMU_MUSIC_MODEL"], music)
    assert missing_weights(music) is None
    shutil.rmtree(music / "vae")
    assert missing_weights(music) == "no vae/ folder"

    sharded = tmp_path / "sharded"
    shutil.copytree(tiny_models["IMMU_CAPTION_MODEL"], sharded)
    (sharded / "model.safetensors").rename(sharded / "model-00001-of-00002.safetensors")
    index = {
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
        }
    }
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    assert missing_weights(sharded) == "no model-00002-of-00002.safetensors"


def test_hub_ids_are_found_in_the_hub_cache_and_checked_there(
    good_env: dict[str, str], tiny_models: dict[str, str], tmp_path: Path
) -> None:
    hub = tmp_path / "hf" / "hub"
    revision = "0123456789abcdef0123456789abcdef01234567"
    for repo, key in [
        ("Salesforce/blip-image-captioning-large", "IMMU_CAPTION_MODEL"),
        ("riffusion/riffusion-model-v1", "IMMU_MUSIC_MODEL"),
    ]:
        cached = hub / ("models--" + repo.replace("/", "--"))
        shutil.copytree(tiny_models[key], cached / "snapshots" / revision)
        (cached / "refs").mkdir()
        (cached / "refs" / "main").write_text(revision)
    for weights in (hub / "models--riffusion--riffusion-model-v1").rglob("vae/diffusion_*"):
        weights.unlink()  # an interrupted download
    env = {k: v for k, v in good_env.items() if not k.endswith("_MODEL")}
    code, lines = _doctor({**env, "HF_HOME": str(tmp_path / "hf")}, tmp_path)
    assert code == 1
    ok, text = lines["caption model"]
    assert ok and "Salesforce/blip-image-captioning-large" in text and revision in text
    ok, text = lines["music model"]
    assert not ok and "riffusion/riffusion-model-v1" in text and "vae/" in text


def test_each_gpu_is_a_line_with_its_free_memory_and_fp16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from bot.settings import Settings
    from immu import doctor

    # this host has no GPU: torch's answers are those of a host with an H100 and an old card
    names = {0: "NVIDIA H100 80GB HBM3", 1: "Tesla K80"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", names.get)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i: (70 * 1024**3, 80 * 1024**3))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: [(9, 0), (3, 7)][i])
    monkeypatch.setattr(doctor, "_driver_version", lambda: "580.65.06")
    cuda, h100, k80 = doctor.torch_and_gpus(Settings(_env_file=None))  # type: ignore[call-arg]
    assert cuda.ok and "580.65.06" in cuda.what
    assert h100.ok and "NVIDIA H100" in h100.what and "70.0 of 80.0 GiB free" in h100.what
    assert not k80.ok and "fp16 no" in k80.what and k80.fix
