"""The bot's own share of a photo's journey, against the fake Bot API on loopback.

    python bench/overhead.py --photos 5

One photo at a time (no queue): the real bot, tiny models. For each photo it takes
  - first reply: the update sent -> the "Queued" message (polling, download, the
    clean re-encode, the store);
  - after composing: the ``Composition`` back from the composer -> the three audios
    and the choice sent (files, store, uploads), from the bot's log;
  - composing: the composer's own seconds, from the bot's log;
and prints the bot's overhead (first reply + after composing) as a share of the whole,
both as measured here and against a 1.5 s GPU composition.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.weights import write_tiny_models
from tests.fakes.telegram_server import FakeTelegram
from tests.support.harness import BotProcess, results
from tests.support.paths import EXAMPLE_PHOTO

GPU_COMPOSE_S = 1.5  # the target for photo -> three tracks on one GPU


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=5)
    args = parser.parse_args()
    photo = EXAMPLE_PHOTO.read_bytes()
    rows: list[tuple[float, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="immu-overhead-") as tmp:
        models = write_tiny_models(Path(tmp) / "models")
        tg = FakeTelegram().start()
        bot = BotProcess(
            tg, models, Path(tmp) / "data", IMMU_STEPS="1", IMMU_GRIFFIN_LIM_ITERS="1",
            IMMU_LOG_LEVEL="INFO", IMMU_PROGRESS_EDIT_S="1",
        ).start()  # fmt: skip
        warm = tg.user(19_999, "Warm")
        tg.send_photo(warm, photo)  # the first job pays for lazy imports and allocations
        tg.wait_for(lambda: results(tg, warm["id"]), 300, "warm-up")
        for i in range(args.photos):
            person = tg.user(20_000 + i, f"P{i}")
            sent = time.monotonic()
            tg.send_photo(person, photo)
            tg.wait_for(partial(results, tg, person["id"]), 300, "delivered")
            calls = [
                c for c in tg.calls if c.params.get("chat_id") in (person["id"], str(person["id"]))
            ]
            queued = next(
                c.at for c in calls if str(c.params.get("text", "")).startswith("Got your photo")
            )
            done = max(c.at for c in calls if c.method in ("sendAudio", "sendMessage"))
            job = len(rows) + 2
            log = bot.log()
            compose = float(re.findall(rf"job composed job={job} seconds=([\d.]+)", log)[-1])
            after = float(
                re.findall(rf"job delivered job={job} seconds_since_composed=([\d.]+)", log)[-1]
            )
            rows.append((queued - sent, after, compose, done - sent))  # fmt: skip
        bot.stop()
        tg.stop()

    def med(k: int) -> float:
        return statistics.median(r[k] for r in rows)

    first, after, compose, total = med(0), med(1), med(2), med(3)
    overhead = first + after
    print(
        f"photos: {args.photos}, one at a time; tiny models, 1 step, CPU; fake Bot API on loopback"
    )
    print(f"first reply (update -> 'Queued'):      {first * 1000:8.0f} ms")
    print(f"after composing (-> audios and choice): {after * 1000:8.0f} ms")
    print(f"composing (composer's own seconds):     {compose * 1000:8.0f} ms")
    print(f"total (update -> choice sent):          {total * 1000:8.0f} ms")
    print(f"bot overhead: {overhead * 1000:.0f} ms = {overhead / total:.1%} of this total")
    projected = overhead / (overhead + GPU_COMPOSE_S)
    print(f"against a {GPU_COMPOSE_S} s GPU composition: {projected:.1%} (budget 5%)")


if __name__ == "__main__":
    main()
