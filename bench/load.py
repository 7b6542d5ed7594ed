"""Load and soak: N simulated people against the fake Bot API, the real bot, tiny models.

    python bench/load.py --people 50 --photos 2

Prints accepted / answered / lost (must be 0) / duplicates (must be 0), people
answered twice (must be 0), p50 and p95 time to the first reply (the instant "Got
it…") and to "Queued" (the same message, edited), the bot's peak memory, and its
open file descriptors before and after the run.

``--timeout`` stops waiting for the compositions (1,000 jobs on tiny CPU models take
most of an hour); the rest stays in the durable queue and is reported as such.
``--send-rate`` is ``IMMU_SEND_RATE``, the bot's own messages per second. The bench
lifts it (0) by default: the fake Bot API has no limit, and the figures are the bot's
own speed. ``--send-rate 30`` is Telegram's documented limit, the bot's default: then
1,000 first replies take 33 s whatever the bot does.
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
from tests.fakes.telegram_server import Call, FakeTelegram
from tests.support.harness import BotProcess
from tests.support.paths import EXAMPLE_PHOTO


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
    parser.add_argument("--send-rate", type=float, default=0, help="IMMU_SEND_RATE (0: none)")
    args = parser.parse_args()
    extra = {"IMMU_SEND_RATE": str(args.send_rate)}
    photo = EXAMPLE_PHOTO.read_bytes()

    with tempfile.TemporaryDirectory(prefix="immu-load-") as tmp:
        models = write_tiny_models(Path(tmp) / "models")
        tg = FakeTelegram().start()
        bot = BotProcess(
            tg, models, Path(tmp) / "data",
            IMMU_STEPS="1", IMMU_GRIFFIN_LIM_ITERS="1", IMMU_LOG_LEVEL="INFO",
            IMMU_MAX_QUEUE=str(args.max_queue), IMMU_MAX_JOBS_PER_USER=str(args.photos),
            IMMU_MAX_PHOTOS_PER_DAY=str(args.photos), **extra,
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

        def queued_calls() -> list[Call]:
            """ "Queued, position N": the first answer edited (or sent anew if it was gone)."""
            return [
                c
                for c in tg.calls_to("editMessageText") + tg.calls_to("sendMessage")
                if str(c.params.get("text", "")).startswith("Got your photo")
            ]

        def queued() -> int:
            return len(queued_calls())

        def settled() -> bool:
            """Every "Got it…" has become "Queued" or a refusal (nothing still checking)."""
            with tg._lock:
                messages = list(tg.messages.values())
            return not any(str(m.get("text", "")).startswith("Got it") for m in messages)

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
            everyone = len(first_replies()) >= args.people and queued() > 0
            if everyone and len(results()) >= queued() and settled():
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
        queued_at: dict[int, float] = {}
        for call in queued_calls():
            queued_at.setdefault(int(call.params["chat_id"]), call.at)
        to_queued = sorted(t - sent_at[chat] for chat, t in queued_at.items())
        sent_per_chat: dict[int, int] = {}
        for c in tg.calls_to("sendMessage"):
            if "pick:" not in str(c.params.get("reply_markup")):
                chat = int(c.params["chat_id"])
                sent_per_chat[chat] = sent_per_chat.get(chat, 0) + 1
        answers = sum(sent_per_chat.values())
        twice = sum(1 for n in sent_per_chat.values() if n > args.photos)
        bot.stop()
        tg.stop()

    print(f"people: {args.people}, photos each: {args.photos}, photos sent: {total}, "
          f"IMMU_SEND_RATE={args.send_rate:g}")  # fmt: skip
    print(
        f"answered: {min(answers, total)} of {total}; accepted: {accepted}; delivered: {len(set(delivered))} people, {len(delivered)} results"
    )
    if len(delivered) >= accepted:
        print(f"lost (accepted, never delivered): {accepted - len(delivered)}")
    else:  # stopped by --timeout: the rest is still in the durable queue
        print(f"stopped by --timeout with {accepted - len(delivered)} accepted jobs still queued")
    print(f"duplicates (results beyond accepted): {max(0, len(delivered) - accepted)}")
    print(f"people answered more than once per photo: {twice}")
    print(f"first reply ('Got it…'): {_percentiles(latencies)} ({len(latencies)} people)")
    print(f"'Queued, position N' (the same message): {_percentiles(to_queued)}")
    print(f"jobs per minute: {len(delivered) / elapsed * 60:.1f} (tiny models, 1 step, CPU)")
    print(f"bot peak memory: {peak_rss / 1024:.0f} MiB")
    print(f"bot file descriptors: {fds_before} before, {fds_after} after {len(delivered)} jobs")


def _percentiles(seconds: list[float]) -> str:
    if not seconds:
        return "none"
    p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
    return f"p50 {statistics.median(seconds) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


if __name__ == "__main__":
    main()
