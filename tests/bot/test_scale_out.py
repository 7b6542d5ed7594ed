"""Scale out: a local Ray cluster (a head and two `immu worker` processes on 127.0.0.1, token
authentication on) serves the bot, as the README's "More than one GPU" sets it up.

One cluster serves the module, with a second head beside it that runs without token
authentication (to be refused); the last test takes the workers away. The tests run the
`ray` of this interpreter's environment and end with `ray stop --force`.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.telegram.texts import CATALOGUE
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import texts_to
from tests.support.paths import EXAMPLE_PHOTO, ROOT

PHOTO = EXAMPLE_PHOTO.read_bytes()
ray = pytest.importorskip("ray")
RAY = Path(sys.executable).parent / "ray"  # the venv's, whatever PATH says
WORKERS = ("w1", "w2")
LLM_KEY = "test-key"  # the fake LLM's key: it reaches the actors, never their arguments
SENT = re.compile(r"job sent job=(\d+) worker=(\S+) attempt=(\d+)")
LOST = re.compile(r"worker lost job=(\d+) worker=(\S+) attempt=(\d+)")
LISTED = re.compile(r"^(immu-pipeline-\S+)\s+host=\S+ pid=(\d+|\?) .* (ready|restarting)$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _base_env(models: dict[str, str]) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IMMU_", "RAY_AUTH_"))},
        **models,
        "RAY_USAGE_STATS_ENABLED": "0",
        "IMMU_DEVICE": "cpu",
        "IMMU_STEPS": "2",
        "IMMU_GRIFFIN_LIM_ITERS": "1",
        "HF_HUB_OFFLINE": "1",
    }


def _start_head(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`ray start --head` on 127.0.0.1 (the actors ask for no CPU: no idle workers wait)."""
    return subprocess.Popen(
        [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=0", "--include-dashboard=false", "--disable-usage-stats"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _started(head: subprocess.Popen[bytes]) -> None:
    out, _ = head.communicate(timeout=120)
    assert head.returncode == 0, out.decode(errors="replace")


def _stop_ray(env: dict[str, str]) -> None:
    subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=60)


def _immu(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "immu.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


class Cluster:
    def __init__(self, tmp: Path, models: dict[str, str], llm: FakeOpenAI) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        self.env = {
            **_base_env(models),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "IMMU_LLM_API_KEY": LLM_KEY,
            "IMMU_LLM_BASE_URL": llm.base_url,
        }
        self.open_port = _free_port()  # a second cluster, without token authentication
        self.open_address = f"127.0.0.1:{self.open_port}"
        self.open_env = {**_base_env(models), "RAY_AUTH_MODE": "disabled"}
        self.tmp = tmp
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        """Both heads at once, then the workers; tests that need them wait for `serving`."""
        heads = [_start_head(self.port, self.env), _start_head(self.open_port, self.open_env)]
        for head in heads:
            _started(head)
        for name in WORKERS:
            log = open(self.log_path(name), "wb")  # noqa: SIM115 - closed with the process
            self.workers[name] = subprocess.Popen(
                [sys.executable, "-m", "immu.cli", "worker", "--address", self.address,
                 "--workers", "1", "--name", name],
                env=self.env, cwd=ROOT, stdout=log, stderr=log,
            )  # fmt: skip

    def log_path(self, name: str) -> Path:
        return self.tmp / f"worker-{name}.log"

    def log(self, name: str) -> str:
        return self.log_path(name).read_text(errors="replace")

    def wait_serving(self, tg: FakeTelegram) -> None:
        def serving() -> bool:
            for name, proc in self.workers.items():
                assert proc.poll() is None, self.log(name)
            return all("serving" in self.log(n) for n in WORKERS)

        tg.wait_for(serving, 150, "workers serving")

    def list_workers(self) -> subprocess.Popen[str]:
        return _immu("worker", "--address", self.address, "--list", env=self.env)

    def stop(self) -> None:
        try:
            for proc in self.workers.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in self.workers.values():
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        finally:
            _stop_ray(self.env)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, str], llm: FakeOpenAI
) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"), tiny_models, llm)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _listed(listing: subprocess.Popen[str]) -> dict[str, tuple[int | None, str]]:
    """What `immu worker --list` printed: worker name -> (actor pid, ready or restarting)."""
    code, out, err = _finish(listing)
    assert code == 0, err
    rows = {}
    for line in out.splitlines():
        match = LISTED.match(line)
        assert match, f"not a worker line: {line!r}"
        rows[match[1]] = (None if match[2] == "?" else int(match[2]), match[3])
    return rows


def _gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for its parent holds nothing either)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _delivered(tg: FakeTelegram, chat: int) -> int:
    return len([m for m in tg.chat_messages(chat) if "pick:" in str(m.get("reply_markup", ""))])


def test_a_cluster_without_token_authentication_is_refused_unless_allowed(
    cluster: Cluster,
) -> None:
    env, address = cluster.open_env, cluster.open_address
    refused = _immu("worker", "--address", address, "--list", env=env)
    allowed = _immu(
        "worker", "--address", address, "--list", env={**env, "IMMU_RAY_ALLOW_NO_AUTH": "true"}
    )
    code, _, err = _finish(refused)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("immu: ") and "without token authentication" in line
    assert "RAY_AUTH_MODE=token" in line and "IMMU_RAY_ALLOW_NO_AUTH" in line
    code, out, err = _finish(allowed)
    assert code == 0, err
    assert "no pipeline worker" in err and not out  # joined, and nobody serves there


def test_a_missing_or_wrong_token_is_one_line_and_exit_2(  # type: ignore[no-untyped-def]
    cluster: Cluster, make_bot
) -> None:
    no_token = {k: v for k, v in cluster.env.items() if not k.startswith("RAY_AUTH_")}
    wrong = {**no_token, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token"}
    worker = ("worker", "--address", cluster.address, "--name", "intruder")
    workers = {"missing": _immu(*worker, env=no_token), "wrong": _immu(*worker, env=wrong)}
    bot = make_bot(  # the bot turns the same error into the same line
        IMMU_COMPOSER="ray", IMMU_RAY_ADDRESS=cluster.address,
        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="not-the-token",
    ).start(wait_ready=False)  # fmt: skip
    fix = {"missing": "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN", "wrong": "refused RAY_AUTH_TOKEN"}
    for case, proc in workers.items():
        code, _, err = _finish(proc)
        assert code == 2, err
        (line,) = err.strip().splitlines()  # one line, no traceback
        assert line.startswith("immu: ") and fix[case] in line, line
    assert bot.proc is not None and bot.proc.wait(120) == 2, bot.log()
    assert "Traceback" not in bot.log() and cluster.token not in bot.log()
    # the one line for the operator (a library's DEBUG line may still follow it)
    (last,) = [line for line in bot.log().strip().splitlines() if line.startswith("immu: ")]
    assert fix["wrong"] in last, last


def test_workers_share_jobs_retry_on_a_ready_worker_and_stop_cleanly(  # type: ignore[no-untyped-def]
    tg: FakeTelegram, make_bot, cluster: Cluster, llm: FakeOpenAI
) -> None:
    cluster.wait_serving(tg)
    listing = cluster.list_workers()  # while the bot starts
    env = {k: v for k, v in cluster.env.items() if k.startswith("RAY_")}
    metrics_port = _free_port()
    bot = make_bot(  # stopped by the fixture: a leaked bot would eat the CPU of later tests
        IMMU_COMPOSER="ray", IMMU_RAY_ADDRESS=cluster.address,
        IMMU_LANES="4", IMMU_MAX_QUEUE="100", IMMU_ADMIN_IDS="9",
        IMMU_METRICS_PORT=str(metrics_port), **env,
    ).start()  # fmt: skip
    listed = _listed(listing)  # the per-worker view: both workers, ready
    assert {n: state for n, (_, state) in listed.items()} == {
        "immu-pipeline-w1-0": "ready",
        "immu-pipeline-w2-0": "ready",
    }

    def metric(name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            lines = r.read().decode().splitlines()
        return sum(float(line.split()[-1]) for line in lines if line.startswith(name))

    def idle() -> bool:
        return metric("immu_jobs_in_flight ") == 0 and metric("immu_queue_jobs ") == 0

    people = [tg.user(100 + i, f"P{i}") for i in range(6)]
    for person in people[:4]:  # two jobs on each worker
        tg.send_photo(person, PHOTO)

    # kill -9 the actor of the first worker a job went to, mid-job: Ray restarts it, and
    # the job's next try goes to the other worker, which is ready, not back to this one
    first = tg.wait_for(lambda: SENT.search(bot.log()), 120, "a job on a worker")
    victim = first[2]
    victim_pid = listed[victim][0]
    assert victim_pid is not None
    os.kill(victim_pid, signal.SIGKILL)
    back = f"worker ready worker={victim}"  # once at the bot's start, once when it answers
    tg.wait_for(lambda: bot.log().count(back) >= 2, 120, "the killed actor ready again")
    log = bot.log()
    lost = LOST.findall(log)
    assert lost and all(worker == victim for _, worker, _ in lost)
    sent = {(job, attempt): worker for job, worker, attempt in SENT.findall(log)}
    for job, worker, attempt in lost:
        retry = sent.get((job, str(int(attempt) + 1)))
        assert retry is not None and retry != worker, f"job {job} went back to {worker}"

    # kill -9 the bot with jobs surely in flight: after a restart every job ends exactly once
    before = len(SENT.findall(bot.log()))
    for person in people[4:]:
        tg.send_photo(person, PHOTO)
    tg.wait_for(lambda: len(SENT.findall(bot.log())) >= before + 2, 120, "2 more jobs sent")
    bot.kill()
    bot.start()
    tg.wait_for(lambda: all(_delivered(tg, p["id"]) for p in people), 300, "every job")
    tg.wait_for(idle, 60, "nothing left in flight")
    assert all(_delivered(tg, p["id"]) == 1 for p in people)
    assert len(tg.calls_to("sendAudio")) >= 3 * len(people)
    log = bot.log()
    assert "worker=immu-pipeline-w1-0" in log and "worker=immu-pipeline-w2-0" in log  # spread
    assert cluster.token not in log
    assert llm.requests  # the LLM key reached the actors, outside their arguments
    actors = "".join(cluster.log(n) for n in WORKERS)
    assert "PipelineWorker" in actors  # the actors' lines do reach the worker's log
    assert "truncated" not in actors and "Token indices" not in actors  # but not library advice

    # operators see the system: Prometheus metrics and /stats, both counting live workers
    assert metric('immu_jobs_total{outcome="delivered"}') >= 1
    assert metric('immu_stage_seconds_count{stage="music"}') >= 1
    tg.wait_for(lambda: metric("immu_workers_alive ") == 2, 120, "both workers alive")
    operator = tg.user(9, "Op")
    tg.send_text(operator, "/stats")
    tg.wait_for(lambda: texts_to(tg, 9), 30, "stats")
    assert "workers_alive: 2" in texts_to(tg, 9)[-1]

    # the documented stop: SIGTERM to `immu worker` removes its actor and frees its host
    w2_pid = listed["immu-pipeline-w2-0"][0]  # never killed: the same actor as at the start
    assert w2_pid is not None
    cluster.workers["w2"].send_signal(signal.SIGTERM)
    assert cluster.workers["w2"].wait(60) == 0
    assert "stopped, its actors removed" in cluster.log("w2")
    tg.wait_for(lambda: _gone(w2_pid), 30, "the stopped worker's actor ended")
    listed = _listed(cluster.list_workers())  # the per-worker view: one worker left
    assert {n: state for n, (_, state) in listed.items()} == {"immu-pipeline-w1-0": "ready"}
    w1_pid = listed["immu-pipeline-w1-0"][0]  # the actor Ray restarted
    assert w1_pid is not None
    tg.wait_for(lambda: metric("immu_workers_alive ") == 1, 60, "one worker left")
    tg.send_text(operator, "/stats")
    tg.wait_for(lambda: len(texts_to(tg, 9)) == 2, 30, "stats again")
    assert "workers_alive: 1" in texts_to(tg, 9)[-1]

    # kill -9 of the last `immu worker` ends its actor too (it is no detached orphan), and
    # a job with no worker left ends with one clear message after its tries
    cluster.workers["w1"].kill()
    tg.wait_for(lambda: _gone(w1_pid), 30, "the killed worker's actor ended")
    tg.wait_for(lambda: metric("immu_workers_alive ") == 0, 60, "no worker left")
    stuck = tg.user(121, "Stuck")
    tg.send_photo(stuck, PHOTO)
    tg.wait_for(lambda: CATALOGUE["en"]["failed"] in texts_to(tg, 121), 120, "a clear failure")
    tg.wait_for(idle, 60, "the failed job settled")
    assert texts_to(tg, 121).count(CATALOGUE["en"]["failed"]) == 1 and not _delivered(tg, 121)
    assert bot.log().count("compose failed job=") >= 3  # IMMU_MAX_ATTEMPTS tries, then told
