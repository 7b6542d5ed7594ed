"""Smoke check of the container image: its ``immu bot`` answers a photo and is healthy.

Run by ``deploy/test-image`` after it built the image, with a Python that has the fake
Bot API's aiohttp (the developers' environment). On the host it starts the fake Bot API
on loopback; the container reaches it through ``--network host``. Exit 0 when:

- ``immu models tiny`` in the image wrote tiny models into a models volume;
- the bot, as the image's non-root user with ``/data`` a volume, answered a photo with
  three audios and a choice keyboard, and wrote its store into that volume;
- the image kept its HEALTHCHECK, and (once the health route is in the tree) ``GET
  /healthz`` answered 200 and ``podman healthcheck run`` called it healthy;
- ``podman stop`` (SIGTERM) ended the bot with status 0.

    python deploy/smoke_image.py IMAGE
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_server import FakeTelegram  # noqa: E402

PHOTO = ROOT / "examples" / "sunset.jpg"
CHAT = 42
ANSWER_S = 300  # model loading and one composition on a busy 2-core host
HEALTHY_S = 60
TINY = ("immu", "models", "tiny", "/models/tiny")  # run in the image, into the models volume


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        sys.exit(
            f"smoke-image: podman {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )
    return result


def health_route_in_tree() -> bool:
    """The health route lands in bot/web/; until it does, only the image's part is checked."""
    return any("/healthz" in p.read_text() for p in (ROOT / "bot" / "web").glob("*.py"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def main() -> int:
    image = sys.argv[1]
    tag = f"immu-smoke-{os.getpid()}"
    models, data, name = f"{tag}-models", f"{tag}-data", f"{tag}-bot"
    tg: FakeTelegram | None = None
    try:
        started = time.monotonic()
        (inspected,) = json.loads(podman("image", "inspect", image).stdout)
        test = (inspected.get("Healthcheck") or {}).get("Test") or []
        if "/healthz" not in " ".join(test):
            sys.exit(f"smoke-image: {image} has no HEALTHCHECK on /healthz (build --format docker)")
        podman("volume", "create", models)
        podman("volume", "create", data)
        tiny = podman("run", "--rm", "-v", f"{models}:/models", image, *TINY).stdout
        env = dict(line.split("=", 1) for line in tiny.splitlines() if "=" in line)
        print(f"smoke-image: immu models tiny in the image ({time.monotonic() - started:.0f} s)")

        started = time.monotonic()
        tg = FakeTelegram().start()
        port = free_port()
        env.update(
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.url,
            IMMU_CHANNEL="@immu_feed",
            IMMU_POLL_TIMEOUT_S="1",
            IMMU_DEVICE="cpu",
            IMMU_STEPS="2",
            IMMU_GRIFFIN_LIM_ITERS="2",
            IMMU_HEALTH_PORT=str(port),
            HF_HUB_OFFLINE="1",
        )
        flags = [f"--env={key}={value}" for key, value in env.items()]
        podman(
            "run", "--detach", "--name", name, "--network", "host",
            "-v", f"{data}:/data", "-v", f"{models}:/models:ro", *flags, image,
        )  # fmt: skip

        def answered() -> bool:
            return any("pick:" in str(m.get("reply_markup", "")) for m in tg.chat_messages(CHAT))

        tg.send_photo(tg.user(CHAT, "Ann"), PHOTO.read_bytes())
        deadline = time.monotonic() + ANSWER_S
        while not answered():  # once a second: each look is a podman call
            state = podman("inspect", name, "--format", "{{.State.Running}}", check=False)
            if state.stdout.strip() != "true":
                sys.exit("smoke-image: the bot's container stopped")
            logs = podman("logs", name, check=False)
            if " job failed " in logs.stdout + logs.stderr:
                sys.exit("smoke-image: the bot could not compose the photo")
            if time.monotonic() > deadline:
                sys.exit(f"smoke-image: no three audios and choice keyboard in {ANSWER_S} s")
            time.sleep(1)
        audios = tg.calls_to("sendAudio", chat_id=CHAT)
        if len(audios) != 3:
            sys.exit(f"smoke-image: the photo got {len(audios)} audios, not 3")
        print(f"smoke-image: the bot answered a photo ({time.monotonic() - started:.0f} s)")

        user = podman("exec", name, "id", "-u").stdout.strip()
        if user == "0":
            sys.exit("smoke-image: the bot runs as root")
        store = podman("exec", name, "ls", "/data").stdout.split()
        if "immu.db" not in store:
            sys.exit(f"smoke-image: no immu.db in the /data volume: {store}")
        print(f"smoke-image: the bot runs as uid {user}; /data holds {' '.join(sorted(store))}")

        if health_route_in_tree():
            started = time.monotonic()
            url = f"http://127.0.0.1:{port}/healthz"
            while (status := get_status(url)) != 200:
                if time.monotonic() - started > HEALTHY_S:
                    sys.exit(f"smoke-image: GET /healthz answered {status or 'nothing'}")
                time.sleep(1)
            check = podman("healthcheck", "run", name, check=False)
            if check.returncode != 0:
                sys.exit(f"smoke-image: podman healthcheck run: {check.stdout}{check.stderr}")
            print(f"smoke-image: GET /healthz 200, podman healthcheck run: healthy ({url})")
        else:
            print("smoke-image: the health route is not in the tree yet: HEALTHCHECK not run")

        podman("stop", "--time", "60", name, timeout=90)
        code = podman("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip()
        if code != "0":
            sys.exit(f"smoke-image: immu bot exited {code} on SIGTERM")
        print("smoke-image: podman stop ended the bot with status 0")
        return 0
    except BaseException:
        logs = podman("logs", "--tail", "60", name, check=False)
        if logs.returncode == 0:
            print(
                f"smoke-image: the bot's last log lines:\n{logs.stdout}{logs.stderr}",
                file=sys.stderr,
            )
        raise
    finally:
        if tg is not None:
            tg.stop()
        podman("rm", "--force", "--time", "5", name, check=False)
        podman("volume", "rm", "--force", models, data, check=False)


if __name__ == "__main__":
    sys.exit(main())
