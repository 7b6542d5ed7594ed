"""deploy/: the container image, the compose file and the service units agree with the
package and with each other. ``deploy/test-image`` builds and runs the image; these read
the files, so a change to one that forgets the other fails here in a second."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from bot.settings import Settings
from tests.support.paths import ROOT

DEPLOY = ROOT / "deploy"
CONTAINERFILE = DEPLOY / "Containerfile"


def _instructions() -> list[tuple[str, str]]:
    """The Containerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines)
        if word and not word.startswith("#")
    ]


def _all(keyword: str) -> list[str]:
    return [rest for word, rest in _instructions() if word == keyword]


def _env() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for rest in _all("ENV"):
        pairs.update(part.partition("=")[::2] for part in shlex.split(rest))
    return pairs


def _args() -> dict[str, str]:
    """ARG NAME=default, or ARG NAME without one."""
    return {name: default for name, _, default in (rest.partition("=") for rest in _all("ARG"))}


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _unit(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_the_image_runs_immu_bot_as_its_own_user_with_data_and_models_as_volumes() -> None:
    env = _env()
    volumes = {v.strip('"') for rest in _all("VOLUME") for v in rest.strip("[]").split(", ")}
    assert env["IMMU_DATA_DIR"] == "/data" and env["HF_HOME"] == "/models"
    assert {"/data", "/models"} <= volumes
    assert env["IMMU_HEALTH_HOST"] == "0.0.0.0"
    (user,) = _all("USER")
    assert user not in {"root", "0"}
    assert _all("CMD")[-1] == '["immu", "bot"]'
    assert _args()["BASE_IMAGE"] == "python:3.11-slim-bookworm"


def test_the_image_copies_every_package_that_pyproject_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {rest.split()[0] for rest in _all("COPY")}
    assert packages <= copied
    allowed = {
        line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] == "!"
    }
    assert packages | {"pyproject.toml", "constraints.txt", "README.md", "LICENSE"} <= allowed


def test_the_image_pins_the_torch_the_readme_installs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"pip install -q {_args()['TORCH_SPEC']} " in readme


def test_the_health_check_asks_the_bots_health_route_on_its_default_port() -> None:
    (check,) = _all("HEALTHCHECK")
    assert "/healthz" in check and "urllib" in check
    assert f"'IMMU_HEALTH_PORT', '{Settings.model_fields['health_port'].default}'" in check
    assert _env()["IMMU_HEALTH_PORT"] == str(Settings.model_fields["health_port"].default)
    # compose says it again (an image podman built without --format docker has none)
    compose_check = _compose()["services"]["bot"]["healthcheck"]["test"]
    assert compose_check == ["CMD", *json.loads(check.split(" CMD ", 1)[1])]


def test_compose_runs_the_bot_from_this_containerfile_with_its_volumes() -> None:
    compose = _compose()
    bot = compose["services"]["bot"]
    assert bot["build"]["dockerfile"] == "deploy/Containerfile"
    context = (DEPLOY / bot["build"]["context"]).resolve()
    assert (context / bot["build"]["dockerfile"]).resolve() == CONTAINERFILE
    assert (DEPLOY / bot["env_file"]).resolve() == ROOT / ".env"
    assert bot["restart"] == "unless-stopped"
    assert set(bot["volumes"]) == {"data:/data", "models:/models"}
    # over .env, whose IMMU_DATA_DIR (.env.example: data) would leave the volume unused
    assert bot["environment"]["IMMU_DATA_DIR"] == "/data"
    assert set(compose["volumes"]) == {"data", "models"}


def test_compose_fetches_models_once_and_runs_ray_workers_on_a_gpu() -> None:
    services = _compose()["services"]
    assert services["models"]["command"] == ["immu", "models", "download"]
    assert "models:/models" in services["models"]["volumes"]
    assert services["models"]["restart"] == "no"
    worker, head = services["worker"], services["ray-head"]
    assert worker["profiles"] == head["profiles"] == ["worker"]
    assert "immu worker" in " ".join(worker["command"])
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]


def test_the_service_units_keep_their_data_in_the_one_writable_folder() -> None:
    for name, command in [("immu-bot.service", "immu bot"), ("immu-worker.service", "immu worker")]:
        unit = _unit(name)
        assert unit["ExecStart"][0].startswith(f"/opt/immu/.venv/bin/{command}")
        assert unit["WorkingDirectory"] == ["/opt/immu"]
        assert unit["EnvironmentFile"] == ["/etc/immu/immu.env"]
        assert unit["User"] == ["immu"]
        assert unit["Restart"] == ["on-failure"]
        for hardening in ("NoNewPrivileges", "PrivateTmp"):
            assert unit[hardening] == ["yes"]
        assert unit["ProtectSystem"] == ["strict"]
        environment = dict(pair.split("=", 1) for pair in unit["Environment"][0].split())
        data = environment["IMMU_DATA_DIR"]
        assert Path(data).is_absolute()
        assert unit["ReadWritePaths"] == [data]
        assert data == f"/var/lib/{unit['StateDirectory'][0]}"
