"""``immu doctor``: what this host has for IMMU, one line per check, and how to fix each.

Every check is a small function of the settings that returns ``Check`` lines: ok or
not, what was found, and how to fix it. A line that is not ``required`` (the language
model: the bot falls back to the offline brief without it) is shown but does not stop
the bot; ``immu doctor`` exits 1 when a required line failed.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bot.settings import Settings

TIMEOUT_S = 10.0
PACKAGES = ("torch", "transformers", "diffusers", "python-telegram-bot")
INSTALL = "pip install -c constraints.txt -e . (README: Two commands)"
# a model folder's weights, as transformers and diffusers save them (fp16 variants too)
WEIGHT_STEMS = ("model", "pytorch_model", "diffusion_pytorch_model")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".fp16.safetensors", ".fp16.bin")
# components of a diffusers folder that IMMU does not load (pipeline/generator.py)
NOT_LOADED = {"safety_checker"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    what: str
    fix: str = ""
    required: bool = True


CheckFn = Callable[[Settings], list[Check]]


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a table shows them."""
    checks: list[CheckFn] = [
        python_and_packages,
        torch_and_gpus,
        ffmpeg,
        models,
        data_folder,
        telegram,
        language_model,
        ray_cluster,
    ]
    lines: list[Check] = []
    for check in checks:
        try:
            lines += check(settings)
        except Exception as exc:  # a check that breaks is a failed line, not a traceback
            lines.append(Check(check.__name__, False, f"the check failed: {exc!r}", "see above"))
    return lines


def can_start(lines: list[Check]) -> bool:
    return all(line.ok for line in lines if line.required)


# --- Python and packages ---


def python_and_packages(settings: Settings) -> list[Check]:
    py = sys.version_info
    lines = [
        Check(
            "Python",
            py >= (3, 11),
            f"{py.major}.{py.minor}.{py.micro} ({sys.executable})",
            "" if py >= (3, 11) else "use Python 3.11 or newer (Debian 12, Ubuntu 24.04)",
        )
    ]
    for package in PACKAGES:
        try:
            lines.append(Check(package, True, version(package)))
        except PackageNotFoundError:
            lines.append(Check(package, False, "not installed", INSTALL))
    return lines


# --- torch, CUDA, GPUs ---


def torch_and_gpus(settings: Settings) -> list[Check]:
    try:
        import torch
    except ImportError:
        return [Check("torch", False, "cannot be imported", "pip install -q torch==2.13.0")]
    cuda = torch.version.cuda
    if not torch.cuda.is_available():
        wanted = settings.device == "cuda"
        built = f"built for CUDA {cuda}" if cuda else "a CPU build"
        return [
            Check(
                "GPU",
                not wanted,
                f"CPU only (torch {torch.__version__}, {built}): fp32, about three minutes"
                " a track; a CUDA GPU renders in seconds",
                "IMMU_DEVICE=cuda needs a CUDA GPU: install the NVIDIA driver (R580 or newer)"
                " or set IMMU_DEVICE=auto"
                if wanted
                else "",
            )
        ]
    lines = [
        Check(
            "CUDA",
            True,
            f"torch {torch.__version__} with CUDA {cuda}, driver {_driver_version()}",
        )
    ]
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        major, minor = torch.cuda.get_device_capability(index)
        fp16 = (major, minor) >= (5, 3)
        enough = free >= 8 * 1024**3  # README: plan on 8 GB at fp16
        lines.append(
            Check(
                f"GPU {index}",
                fp16,
                f"{torch.cuda.get_device_name(index)}: {free / 1024**3:.1f} of"
                f" {total / 1024**3:.1f} GiB free, fp16 {'yes' if fp16 else 'no'}"
                + ("" if enough else " (under the 8 GB one job needs at fp16)"),
                "" if fp16 else "this GPU has no fast fp16: use a newer one",
            )
        )
    return lines


def _driver_version() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=TIMEOUT_S, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown (no nvidia-smi)"
    return out.splitlines()[0].strip() if out.strip() else "unknown"


# --- ffmpeg ---


def ffmpeg(settings: Settings) -> list[Check]:
    fix = "install ffmpeg (apt-get install ffmpeg) or set IMMU_FFMPEG to its path"
    try:
        result = subprocess.run(
            [settings.ffmpeg, "-version"], capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return [Check("ffmpeg", False, f"{settings.ffmpeg!r} cannot be run: {exc}", fix)]
    first = (result.stdout.splitlines() or [""])[0].split(" Copyright")[0]
    if result.returncode != 0 or not first.startswith("ffmpeg"):
        return [Check("ffmpeg", False, f"{settings.ffmpeg!r} -version failed", fix)]
    return [Check("ffmpeg", True, f"{first} ({settings.ffmpeg})")]


# --- models ---


def models(settings: Settings) -> list[Check]:
    wanted = [("caption model", settings.caption_model), ("music model", settings.music_model)]
    if settings.tiny_vae:
        wanted.append(("tiny VAE", settings.tiny_vae))
    if settings.moderation == "auto":
        wanted.append(("photo filter", settings.safety_model))
    # with Ray the workers load the models: this host need not have them
    required = settings.composer == "local"
    return [model_folder(name, ref, required=required) for name, ref in wanted]


def model_folder(name: str, ref: str, *, required: bool = True) -> Check:
    """A local folder, or the hub cache's copy of a hub id, with every weights file."""
    folder = Path(ref).expanduser()
    if not folder.is_dir():
        if folder.is_absolute() or ref.startswith("."):
            return Check(name, False, f"{ref}: no such folder", "fix the setting's path", required)
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(ref, local_files_only=True))
        except Exception:
            return Check(
                name, False, f"{ref}: not in the Hugging Face cache",
                "immu models download (or copy the folder and set its path)", required,
            )  # fmt: skip
    missing = missing_weights(folder)
    if missing:
        return Check(
            name, False, f"{ref}: incomplete, {missing}",
            "immu models download again (or copy the whole folder)", required,
        )  # fmt: skip
    return Check(name, True, f"{ref} ({folder})", "", required)


def missing_weights(folder: Path) -> str | None:
    """What the folder lacks of the weights its config implies, or None when complete."""
    index = folder / "model_index.json"
    if index.is_file():  # a diffusers pipeline: each model component has its weights
        try:
            components = json.loads(index.read_text())
        except (OSError, ValueError):
            return "model_index.json cannot be read"
        for key, value in components.items():
            if key.startswith("_") or key in NOT_LOADED or not isinstance(value, list):
                continue
            if value[0] is None:
                continue
            part = folder / key
            if not part.is_dir():
                return f"no {key}/ folder"
            if (part / "config.json").is_file() and (gap := _weights_gap(part)):
                return f"{key}/: {gap}"
        return None
    if not (folder / "config.json").is_file():
        return "no config.json or model_index.json"
    return _weights_gap(folder)


def _weights_gap(folder: Path) -> str | None:
    for stem in WEIGHT_STEMS:
        for suffix in WEIGHT_SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return None
            shards = folder / f"{stem}{suffix}.index.json"
            if shards.is_file():
                try:
                    names = set(json.loads(shards.read_text())["weight_map"].values())
                except (OSError, ValueError, KeyError, AttributeError):
                    return f"{shards.name} cannot be read"
                lost = sorted(n for n in names if not (folder / n).is_file())
                return f"no {lost[0]}" if lost else None
    return "no weights file (model.safetensors or pytorch_model.bin)"


# --- the data folder ---


def data_folder(settings: Settings) -> list[Check]:
    folder = settings.data_dir.resolve()
    there = folder
    while not there.exists() and there != there.parent:
        there = there.parent  # a folder the bot will make: its parent must take it
    fix = f"make {folder} writable by the bot's user, or set IMMU_DATA_DIR"
    try:
        with tempfile.NamedTemporaryFile(dir=there, prefix=".immu-doctor-"):
            pass
    except OSError as exc:
        return [Check("data folder", False, f"{folder}: not writable ({exc.strerror})", fix)]
    free_mb = shutil.disk_usage(there).free / 1_000_000
    made = "" if there == folder else ", to be made"
    what = f"{folder}{made}: writable, {free_mb / 1000:.1f} GB free"
    if free_mb < settings.health_min_free_mb:
        return [
            Check(
                "data folder", False, f"{what}, under IMMU_HEALTH_MIN_FREE_MB",
                "free disk space, or move IMMU_DATA_DIR to a larger disk",
            )
        ]  # fmt: skip
    return [Check("data folder", True, what)]


# --- Telegram ---


class _TelegramError(Exception):
    def __init__(self, description: str, status: int | None = None) -> None:
        super().__init__(description)
        self.status = status


def _bot_api(settings: Settings, method: str, **params: Any) -> Any:
    assert settings.telegram_bot_token is not None
    token = settings.telegram_bot_token.get_secret_value()
    url = f"{settings.telegram_api_url.rstrip('/')}/bot{token}/{method}"
    data = urllib.parse.urlencode(params).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=TIMEOUT_S) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:  # Telegram's errors are JSON with a description
        try:
            description = json.loads(exc.read()).get("description") or exc.reason
        except ValueError:
            description = exc.reason
        raise _TelegramError(str(description), exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:  # never the URL: it holds the token
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise _TelegramError(f"cannot reach {settings.telegram_api_url}: {reason}") from None
    if not body.get("ok"):
        raise _TelegramError(str(body.get("description")))
    return body["result"]


def telegram(settings: Settings) -> list[Check]:
    if settings.telegram_bot_token is None:
        return [Check("Telegram", False, "no token", "set TELEGRAM_BOT_TOKEN (from @BotFather)")]
    try:
        me = _bot_api(settings, "getMe")
    except _TelegramError as exc:
        fix = (
            "TELEGRAM_BOT_TOKEN is wrong: copy it again from @BotFather"
            if exc.status in (401, 404)
            else "check the network, or TELEGRAM_API_URL"
        )
        return [Check("Telegram", False, f"getMe: {exc}", fix)]
    lines = [Check("Telegram", True, f"@{me.get('username')} (id {me['id']})")]
    lines.append(_channel(settings, me["id"]))
    if settings.review_chat:
        lines.append(_review_chat(settings, me["id"]))
    return lines


def _channel(settings: Settings, bot_id: int) -> Check:
    if not settings.channel:
        return Check("channel", False, "not set", "set IMMU_CHANNEL to @channelname or its id")
    fix = (
        f"add the bot to {settings.channel} as an administrator that may post and delete"
        " messages (only administrators see the reactions, the likes)"
    )
    try:
        chat = _bot_api(settings, "getChat", chat_id=settings.channel)
        member = _bot_api(settings, "getChatMember", chat_id=chat["id"], user_id=bot_id)
    except _TelegramError as exc:
        return Check("channel", False, f"{settings.channel}: {exc}", fix)
    name = f"{settings.channel} ({chat.get('title') or chat['id']})"
    if member.get("status") == "creator":
        return Check("channel", True, f"{name}: the bot owns it")
    if member.get("status") != "administrator":
        return Check("channel", False, f"{name}: the bot is {member.get('status')}", fix)
    lacking = [r for r in ("can_post_messages", "can_delete_messages") if not member.get(r)]
    if lacking:
        return Check("channel", False, f"{name}: administrator without {', '.join(lacking)}", fix)
    return Check("channel", True, f"{name}: administrator, may post and delete")


def _review_chat(settings: Settings, bot_id: int) -> Check:
    fix = f"add the bot to {settings.review_chat}, or fix IMMU_REVIEW_CHAT"
    try:
        chat = _bot_api(settings, "getChat", chat_id=settings.review_chat)
        member = _bot_api(settings, "getChatMember", chat_id=chat["id"], user_id=bot_id)
    except _TelegramError as exc:
        return Check("review chat", False, f"{settings.review_chat}: {exc}", fix)
    if member.get("status") in ("left", "kicked"):
        return Check("review chat", False, f"{settings.review_chat}: the bot is not in it", fix)
    title = chat.get("title") or chat.get("first_name") or chat["id"]
    return Check("review chat", True, f"{settings.review_chat} ({title})")


# --- the language model ---


def language_model(settings: Settings) -> list[Check]:
    if not settings.llm_api_key and not settings.llm_base_url:
        return [
            Check(
                "language model", True,
                "offline brief: none is set (IMMU_LLM_API_KEY or IMMU_LLM_BASE_URL)", "",
                required=False,
            )
        ]  # fmt: skip
    import openai

    from pipeline.brief import NO_KEY

    where = settings.llm_base_url or "OpenAI"
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else NO_KEY
    client = openai.OpenAI(
        api_key=key, base_url=settings.llm_base_url, timeout=TIMEOUT_S, max_retries=0
    )
    try:
        client.chat.completions.create(
            model=settings.llm_model,
            messages=[{"role": "user", "content": "Say ok."}],
            max_tokens=1,
        )
    except openai.AuthenticationError:
        what, fix = "the key was refused", "set IMMU_LLM_API_KEY to a key this server takes"
    except openai.NotFoundError:
        what, fix = "the model is not served", "set IMMU_LLM_MODEL to a model the server has"
    except openai.APIConnectionError:
        what, fix = "cannot be reached", "start the server, or fix IMMU_LLM_BASE_URL"
    except openai.APIStatusError as exc:
        what, fix = f"answered {exc.status_code}", "see the server's log"
    else:
        return [
            Check("language model", True, f"{settings.llm_model} at {where}", "", required=False)
        ]
    fix += "; until then the brief is written offline"
    return [Check("language model", False, f"{settings.llm_model} at {where}: {what}", fix, False)]


# --- Ray ---


def ray_cluster(settings: Settings) -> list[Check]:
    if settings.composer != "ray":
        return []
    address = settings.ray_address
    fix = "start the head (ray start --head) or set IMMU_RAY_ADDRESS to its host:port"
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return [Check("Ray cluster", False, f"{address!r} is no host:port", fix)]
    try:
        with socket.create_connection((host.strip("[]"), int(port)), TIMEOUT_S):
            pass
    except OSError as exc:
        return [Check("Ray cluster", False, f"{address}: {exc.strerror or exc}", fix)]
    return [Check("Ray cluster", True, f"{address} answers")]


# --- the table ---


def show(lines: list[Check]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=400)  # a log or a pipe: one line per check, unwrapped
    table = Table(title="immu doctor", show_lines=False)
    table.add_column("")
    table.add_column("check")
    table.add_column("found")
    table.add_column("how to fix")
    for line in lines:
        mark = "[green]✓[/]" if line.ok else ("[red]✗[/]" if line.required else "[yellow]✗[/]")
        table.add_row(mark, escape(line.name), escape(line.what), escape(line.fix))
    console.print(table)
    if can_start(lines):
        console.print("The bot can start.")
    else:
        console.print("The bot cannot start: fix the lines marked ✗ in red.")
