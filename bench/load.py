"""Load and soak: N simulated people against the fake Bot API, the real bot, tiny models.

    python bench/load.py --people 50 --photos 2

Prints accepted / answered / lost (must be 0) / duplicates (must be 0), p50 and p95
time to the first reply, the bot's peak memory, and its open file descriptors
before and after the run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.weights import write_tiny_models
from tests.bot.harness import BotProcess
from tests.conftest import EXAMPLE_PHOTO
from tests.fakes.telegram_server import FakeTelegram


def _proc_status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])  # kB
    return 0


def _fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--photos", type=int, default=2, help="photos per person")
    parser.add_argument("--max-queue", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    photo = EXAMPLE_PHOTO.read_bytes()

    with tempfile.TemporaryDirectory(prefix="immu-load-") as tmp:
        models = write_tiny_models(Path(tmp) / "models")
        tg = FakeTelegram().start()
        bot = BotProcess(
            tg, models, Path(tmp) / "data",
            IMMU_STEPS="1", IMMU_GRIFFIN_LIM_ITERS="1", IMMU_LOG_LEVEL="INFO",
            IMMU_MAX_QUEUE=str(args.max_queue), IMMU_MAX_JOBS_PER_USER=str(args.photos),
            IMMU_MAX_PHOTOS_PER_DAY=str(args.photos),
        ).start()  # fmt: skip
        assert bot.proc is not None
        pid = bot.proc.pid
        fds_before = _fds(pid)
        people = [tg.user(10_000 + i, f"P{i}") for i in range(args.people)]
        sent_at: dict[int, float] = {}
        started = time.monotonic()
        for _ in range(args.photos):
            for person in people:
                sent_at.setdefault(person["id"], time.monotonic())
                tg.send_photo(person, photo)
        total = args.people * args.photos

        def first_replies() -> dict[int, float]:
            out: dict[int, float] = {}
            for call in tg.calls_to("sendMessage"):
                chat = int(call.params["chat_id"])
                out.setdefault(chat, call.at)
            return out

        def queued() -> int:
            return sum(
                1
                for c in tg.calls_to("sendMessage")
                if str(c.params.get("text", "")).startswith("Got your photo")
            )

        def results() -> list[int]:
            return [
                int(c.params["chat_id"])
                for c in tg.calls_to("sendMessage")
                if "pick:" in str(c.params.get("reply_markup"))
            ]

        peak_rss = 0
        deadline = time.monotonic() + args.timeout
        last_report = time.monotonic()
        while time.monotonic() < deadline:
            peak_rss = max(peak_rss, _proc_status(pid, "VmRSS"))
            if time.monotonic() - last_report > 60:
                last_report = time.monotonic()
                print(f"  {time.monotonic() - started:.0f} s: {len(results())} delivered, rss "
                      f"{_proc_status(pid, 'VmRSS') / 1024:.0f} MiB, fds {_fds(pid)}", flush=True)  # fmt: skip
            if len(results()) >= queued() and len(first_replies()) >= args.people and queued() > 0:
                answered_all = sum(1 for c in tg.calls_to("sendMessage")) >= total
                if answered_all:
                    break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        time.sleep(2)
        fds_after = _fds(pid)
        peak_rss = max(peak_rss, _proc_status(pid, "VmHWM"))
        accepted = queued()
        delivered = results()
        first = first_replies()
        latencies = sorted(first[p["id"]] - sent_at[p["id"]] for p in people if p["id"] in first)
        answers = sum(
            1
            for c in tg.calls_to("sendMessage")
            if "pick:" not in str(c.params.get("reply_markup"))
        )
        bot.stop()
        tg.stop()

    print(f"people: {args.people}, photos each: {args.photos}, photos sent: {total}")
    print(
        f"answered: {min(answers, total)} of {total}; accepted: {accepted}; delivered: {len(set(delivered))} people, {len(delivered)} results"
    )
    if len(delivered) >= accepted:
        print(f"lost (accepted, never delivered): {accepted - len(delivered)}")
    else:  # stopped by --timeout: the rest is still in the durable queue
        print(f"stopped by --timeout with {accepted - len(delivered)} accepted jobs still queued")
    print(f"duplicates (results beyond accepted): {max(0, len(delivered) - accepted)}")
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        print(
            f"first reply: p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
        )
    print(f"jobs per minute: {len(delivered) / elapsed * 60:.1f} (tiny models, 1 step, CPU)")
    print(f"bot peak memory: {peak_rss / 1024:.0f} MiB")
    print(f"bot file descriptors: {fds_before} before, {fds_after} after {len(delivered)} jobs")


if __name__ == "__main__":
    main()
