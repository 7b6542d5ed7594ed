"""Smoke check of an operator's install: the runtime-only ``immu`` answers a photo.

Run by ``.ci/run`` with the developers' Python (it has the fake Bot API's aiohttp);
the bot under test is the ``immu`` of another virtual environment that got nothing
but ``pip install -e .``. Exit 0 when ``immu doctor`` passed every check against the fake
Bot API and a photo got three audios and a choice keyboard.

    python .ci/smoke.py RUNTIME_VENV WORK_DIR
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_server import FakeTelegram  # noqa: E402

PHOTO = ROOT / "examples" / "sunset.jpg"
CHAT = 42


def _run(venv: Path, work: Path, *args: str, env: dict[str, str]) -> str:
    """One ``immu`` command of the runtime environment; its output, or exit 1 with it."""
    result = subprocess.run(
        [str(venv / "bin" / "immu"), *args], cwd=work, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"smoke: immu {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def main() -> int:
    venv, work = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    work.mkdir(parents=True, exist_ok=True)
    # the operator's environment, not the developers': no IMMU_ or TELEGRAM_ leftovers
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMMU_", "TELEGRAM_"))}
    env.update(HF_HUB_OFFLINE="1", PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    env.pop("PYTHONPATH", None)

    started = time.monotonic()
    tiny = _run(venv, work, "models", "tiny", str(work / "tiny-models"), env=env)
    env.update(line.split("=", 1) for line in tiny.splitlines() if "=" in line)
    print(f"smoke: immu models tiny ({time.monotonic() - started:.0f} s)", flush=True)

    started = time.monotonic()
    env.update(IMMU_DEVICE="cpu", IMMU_STEPS="2", IMMU_GRIFFIN_LIM_ITERS="2")
    _run(venv, work, "compose", str(PHOTO), "-o", str(work / "out"), "--seed", "1", env=env)
    mp3s = sorted(p.name for p in (work / "out").glob("track-*.mp3"))
    if mp3s != ["track-1.mp3", "track-2.mp3", "track-3.mp3"]:
        sys.exit(f"smoke: immu compose wrote {mp3s}, not three tracks")
    print(f"smoke: immu compose ({time.monotonic() - started:.0f} s)", flush=True)

    started = time.monotonic()
    tg = FakeTelegram().start()
    env.update(
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_API_URL=tg.url,
        IMMU_CHANNEL="@immu_feed",
        IMMU_DATA_DIR=str(work / "data"),
        IMMU_POLL_TIMEOUT_S="1",
    )
    report = _run(venv, work, "doctor", env=env)  # exits 1 unless the bot can start
    if "The bot can start." not in report or "✗" in report:
        sys.exit(f"smoke: immu doctor found a problem:\n{report}")
    print(f"smoke: immu doctor ({time.monotonic() - started:.0f} s)", flush=True)

    started = time.monotonic()
    log = open(work / "bot.log", "wb")  # noqa: SIM115 - closed with the process
    bot = subprocess.Popen(
        [str(venv / "bin" / "immu"), "bot"], cwd=work, env=env, stdout=log, stderr=log
    )
    try:
        tg.send_photo(tg.user(CHAT, "Ann"), PHOTO.read_bytes())
        tg.wait_for(
            lambda: (
                bot.poll() is not None
                or any("pick:" in str(m.get("reply_markup", "")) for m in tg.chat_messages(CHAT))
            ),
            240,
            "three audios and a choice keyboard",
        )
        if bot.poll() is not None:
            sys.exit(f"smoke: immu bot died:\n{(work / 'bot.log').read_text()[-3000:]}")
        audios = tg.calls_to("sendAudio", chat_id=CHAT)
        if len(audios) != 3:
            sys.exit(f"smoke: the photo got {len(audios)} audios, not 3")
    finally:
        bot.send_signal(signal.SIGTERM)
        code = bot.wait(60)
        tg.stop()
    if code != 0:
        sys.exit(f"smoke: immu bot exited {code} on SIGTERM")
    print(f"smoke: immu bot answered a photo ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
