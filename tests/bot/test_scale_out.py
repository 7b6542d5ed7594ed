"""Scale out: a local Ray cluster (head + two `immu worker` processes on 127.0.0.1, token
authentication on) serves the bot; jobs spread, survive a killed worker and a killed bot."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.texts import CATALOGUE
from tests.bot.harness import texts_to
from tests.conftest import EXAMPLE_PHOTO, ROOT
from tests.fakes.telegram_server import FakeTelegram

PHOTO = EXAMPLE_PHOTO.read_bytes()
ray = pytest.importorskip("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, tmp: Path, models: dict[str, str]) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **models,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(16),
            "RAY_USAGE_STATS_ENABLED": "0",
            "IMMU_DEVICE": "cpu",
            "IMMU_STEPS": "6",
            "IMMU_GRIFFIN_LIM_ITERS": "1",
            "HF_HUB_OFFLINE": "1",
        }
        self.tmp = tmp
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        subprocess.run(
            ["ray", "start", "--head", "--node-ip-address=127.0.0.1", f"--port={self.port}",
             "--num-cpus=4", "--include-dashboard=false", "--disable-usage-stats"],
            env=self.env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        for name in ("w1", "w2"):
            log = open(self.tmp / f"worker-{name}.log", "wb")  # noqa: SIM115
            self.workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "immu.cli",
                        "worker",
                        "--address",
                        self.address,
                        "--workers",
                        "1",
                        "--name",
                        name,
                    ],
                    env=self.env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=log,
                )
            )
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            logs = [
                (self.tmp / f"worker-{n}.log").read_text(errors="replace") for n in ("w1", "w2")
            ]
            if all("serving" in text for text in logs):
                return
            time.sleep(0.5)
        raise AssertionError("workers did not start: " + " | ".join(logs))

    def actor_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-f", "ray::PipelineWorker"], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self) -> None:
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        subprocess.run(["ray", "stop", "--force"], env=self.env, capture_output=True, timeout=60)


@pytest.fixture()
def cluster(tmp_path: Path, tiny_models: dict[str, str]) -> Iterator[Cluster]:
    c = Cluster(tmp_path, tiny_models)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _delivered(tg: FakeTelegram, chat: int) -> int:
    return len([m for m in tg.chat_messages(chat) if "pick:" in str(m.get("reply_markup", ""))])


def test_ray_workers_share_jobs_and_survive_a_killed_worker_and_a_killed_bot(  # type: ignore[no-untyped-def]
    tg: FakeTelegram, make_bot, tmp_path: Path, cluster: Cluster
) -> None:
    env = {k: v for k, v in cluster.env.items() if k.startswith(("RAY_",))}
    metrics_port = _free_port()
    bot = make_bot(  # stopped by the fixture: a leaked bot would eat the CPU of later tests
        IMMU_COMPOSER="ray", IMMU_RAY_ADDRESS=cluster.address,
        IMMU_LANES="4", IMMU_MAX_QUEUE="100", IMMU_ADMIN_IDS="9",
        IMMU_METRICS_PORT=str(metrics_port), **env,
    ).start()  # fmt: skip
    people = [tg.user(100 + i, f"P{i}") for i in range(6)]
    for person in people:
        tg.send_photo(person, PHOTO)

    # kill -9 one pipeline actor while jobs are in flight: its job goes to the other worker
    tg.wait_for(lambda: bot.log().count("job sent") >= 2, 120, "jobs on workers")
    victim = cluster.actor_pids()[0]
    os.kill(victim, signal.SIGKILL)
    tg.wait_for(lambda: all(_delivered(tg, p["id"]) for p in people[:3]), 240, "first jobs")

    # kill -9 the bot with jobs in flight: after a restart every job ends exactly once
    bot.kill()
    bot.start()
    tg.wait_for(lambda: all(_delivered(tg, p["id"]) for p in people), 300, "every job")
    time.sleep(2)
    assert all(_delivered(tg, p["id"]) == 1 for p in people)
    assert len(tg.calls_to("sendAudio")) >= 18
    log = bot.log()
    assert "worker=immu-pipeline-w1-0" in log and "worker=immu-pipeline-w2-0" in log  # spread
    assert "worker lost" in log  # the killed worker's job was moved
    assert cluster.env["RAY_AUTH_TOKEN"] not in log
    actors = "".join(
        (tmp_path / f"worker-{n}.log").read_text(errors="replace") for n in ("w1", "w2")
    )
    assert "PipelineWorker" in actors  # the actors' lines do reach the worker's log
    assert "truncated" not in actors and "Token indices" not in actors  # but not library advice

    # operators see the system: Prometheus metrics and /stats, both counting live workers
    def metric(name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            lines = r.read().decode().splitlines()
        return sum(float(line.split()[-1]) for line in lines if line.startswith(name))

    late = tg.user(120, "Late")  # a job the restarted bot surely composes and counts
    tg.send_photo(late, PHOTO)
    tg.wait_for(lambda: _delivered(tg, late["id"]), 120, "a new job after the restart")
    tg.wait_for(lambda: metric("immu_workers_alive ") == 2, 120, "the killed worker back")
    assert metric("immu_jobs_in_flight ") == 0 and metric("immu_queue_jobs ") == 0
    assert metric('immu_jobs_total{outcome="delivered"}') >= 1
    assert metric('immu_stage_seconds_count{stage="music"}') >= 1
    operator = tg.user(9, "Op")
    tg.send_text(operator, "/stats")
    tg.wait_for(lambda: texts_to(tg, 9), 30, "stats")
    assert "workers_alive: 2" in texts_to(tg, 9)[-1]
    cluster.workers[1].send_signal(signal.SIGTERM)  # one GPU host leaves
    tg.wait_for(lambda: metric("immu_workers_alive ") == 1, 60, "one worker left")
    tg.send_text(operator, "/stats")
    tg.wait_for(lambda: len(texts_to(tg, 9)) == 2, 30, "stats again")
    assert "workers_alive: 1" in texts_to(tg, 9)[-1]

    # the last GPU host leaves too: a job that keeps failing ends with one clear message
    cluster.workers[0].send_signal(signal.SIGTERM)
    tg.wait_for(lambda: metric("immu_workers_alive ") == 0, 60, "no worker left")
    stuck = tg.user(121, "Stuck")
    tg.send_photo(stuck, PHOTO)
    tg.wait_for(lambda: CATALOGUE["en"]["failed"] in texts_to(tg, 121), 120, "a clear failure")
    time.sleep(1)
    assert texts_to(tg, 121).count(CATALOGUE["en"]["failed"]) == 1 and not _delivered(tg, 121)
    assert bot.log().count("compose failed job=") >= 3  # IMMU_MAX_ATTEMPTS tries, then told
