"""The GPU suite in one command and one process, within a time budget.

On the GPU host, from the repository root, nothing installed (bench/README.md):

    python bench/kit.py --wheels immu-wheels --out kit-out --budget-s 480 --device cuda
    python bench/kit.py --out kit-out --device cpu --tiny    # the kit's own check, < 3 min

The parts, in this order (the first is the headline; the rest go by what they tell):

  compose            the chain at full size, random weights: per-stage seconds, GPU memory peak
                     (bench/compose.py --full-size: the default sampler, 50 steps)
  peers              IMMU's chain vs naive Riffusion vs MusicGen-small (bench/peers.py)
  batching           K concurrent jobs through the in-process composer, IMMU_BATCH_JOBS 1 vs 3
  compose-dpm        --scheduler dpm++ --steps 25
  compose-taesd      --tiny-vae (the default sampler)
  compose-dpm-taesd  both
  gl-batched         Griffin-Lim for the three tracks at once vs one at a time
  fp16-vae           the VAE decode in fp16 vs fp32 (bf16 on a CPU)
  channels-last      UNet and VAE in channels-last memory format
  compile            torch.compile on the UNet, its warm-up timed apart
  cuda-graphs        torch.compile mode=reduce-overhead (CUDA only)

A part whose estimate (from the first part's seconds) does not fit in what is left of
``--budget-s`` is skipped; a part still running near the end is stopped. Either way the
kit says so, writes what it has and exits 3. After every part it writes OUT/kit.json and
OUT/kit.md (one table of every figure); at the end it prints the table.
Exit: 0 every part ran, 3 a part was skipped or stopped for time, 1 a part failed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "sunset.jpg"
GRACE_S = 10.0  # stop this long before the budget: write the files, print, exit
TARGET_S = 1.5  # photo -> three tracks playable on one GPU (the language model apart)
PEER_TARGETS = {"naive": 5.0, "musicgen": 10.0}  # IMMU at least this many times faster
EXIT_BUDGET, EXIT_FAILED = 3, 1
PARTS = (
    "compose", "peers", "batching", "compose-dpm", "compose-taesd", "compose-dpm-taesd",
    "gl-batched", "fp16-vae", "channels-last", "compile", "cuda-graphs",
)  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for kit.json, kit.md")
    parser.add_argument("--budget-s", type=float, default=480.0, help="stop before this")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="tiny random models, 2 steps, 1 Griffin-Lim iteration, 1 run, no warm-ups: "
        "checks the kit",
    )
    parser.add_argument("--wheels", type=Path, help="a folder of wheels (bench/wheels.py) to use")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--runs", type=int, help="timed runs per figure (default: 3; tiny: 1)")
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        help="one untimed call before each measure (default: yes; tiny: no)",
    )
    parser.add_argument("--steps", type=int, help="the default sampler's (50; tiny: 2)")
    parser.add_argument("--dpm-steps", type=int, help="DPM-Solver++'s (25; tiny: 2)")
    parser.add_argument("--naive-steps", type=int, help="the naive path's (50; tiny: 2)")
    parser.add_argument("--griffin-lim-iters", type=int, help="(32; tiny: 1)")
    parser.add_argument("--musicgen-tokens", type=int, help="(256, 5.1 s; tiny: 32)")
    parser.add_argument("--jobs", type=int, default=8, help="concurrent jobs K for batching")
    parser.add_argument("--batch-jobs", type=int, default=3, help="IMMU_BATCH_JOBS against 1")
    parser.add_argument(
        "--compile-backend",
        help="torch.compile's backend (inductor; on a CPU eager: inductor's C++ build "
        "takes minutes there, so the CPU run only proves the wiring)",
    )
    parser.add_argument(
        "--models-cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "immu-kit-models",
        help="full-size random models are written here once and reused",
    )
    args = parser.parse_args(argv)
    tiny = args.tiny
    defaults = {
        "runs": 1 if tiny else 3,
        "warmup": not tiny,
        "steps": 2 if tiny else 50,
        "dpm_steps": 2 if tiny else 25,
        "naive_steps": 2 if tiny else 50,
        "griffin_lim_iters": 1 if tiny else 32,
        "musicgen_tokens": 32 if tiny else 256,
        "compile_backend": "eager" if args.device == "cpu" else "inductor",
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def unpack_wheels(folder: Path) -> Path:
    """Unzip every wheel of ``folder`` into ``folder/site`` (once); returns that path.

    Unzipping is all a wheel needs to import; executable bits are kept (imageio-ffmpeg's
    ffmpeg). No pip, no network, nothing outside the folder is touched.
    """
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"kit: no wheels in {folder} (make them with bench/wheels.py)")
    site, listing = folder / "site", "\n".join(w.name for w in wheels)
    stamp = site / ".unpacked"
    if stamp.exists() and stamp.read_text() == listing:
        return site
    shutil.rmtree(site, ignore_errors=True)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                name = info.filename
                for scheme in ("/purelib/", "/platlib/"):  # <name>.data/purelib/x -> x
                    if ".data" + scheme in name:
                        name = name.split(".data" + scheme, 1)[1]
                if not name or name.endswith("/") or ".data/" in name:
                    continue
                target = site / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))
                if mode := (info.external_attr >> 16) & 0o777:
                    target.chmod(mode)
    stamp.write_text(listing)
    return site


def find_ffmpeg() -> str:
    """IMMU_FFMPEG if set, else ffmpeg on the PATH, else the imageio-ffmpeg wheel's."""
    if configured := os.environ.get("IMMU_FFMPEG"):
        return configured
    if shutil.which("ffmpeg"):
        return "ffmpeg"
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise SystemExit(
            "kit: no ffmpeg on the PATH and no imageio-ffmpeg: set IMMU_FFMPEG or bring "
            "the wheels (bench/wheels.py)"
        ) from exc


@dataclass
class Report:
    """Every figure as a row (part, figure, value, unit, note); written after each part."""

    out: Path
    meta: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    parts: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, part: str, figure: str, value: float, unit: str = "s", note: str = "") -> None:
        with self.lock:
            row = {"part": part, "figure": figure, "value": round(value, 4), "unit": unit}
            self.rows.append({**row, "note": note})

    def markdown(self) -> str:
        meta = self.meta
        lines = [
            f"IMMU kit, {meta['date']}: {meta['device']}; torch {meta['torch']}, "
            f"Python {meta['python']}; {meta['models']}; load average {meta['load_average']:.1f}",
            f"settings: {meta['settings']}",
            "",
            "| part | figure | value | unit | note |",
            "| --- | --- | ---: | --- | --- |",
        ]
        for row in self.rows:
            value = f"{row['value']:.3f}" if row["unit"] in ("s", "GiB") else f"{row['value']:.2f}"
            lines.append(
                f"| {row['part']} | {row['figure']} | {value} | {row['unit']} | {row['note']} |"
            )
        lines += ["", "parts: " + "; ".join(f"{k} {v}" for k, v in self.parts.items())]
        cpu = f" ({meta['cpu_s']:.0f} CPU s)" if "cpu_s" in meta else ""
        lines.append(
            f"wall: {meta.get('wall_s', 0):.1f} s{cpu} of a {meta['budget_s']:.0f} s budget"
        )
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        with self.lock:
            self.out.mkdir(parents=True, exist_ok=True)
            data = {"meta": self.meta, "parts": self.parts, "figures": self.rows}
            (self.out / "kit.json").write_text(json.dumps(data, indent=2))
            (self.out / "kit.md").write_text(self.markdown())


@dataclass
class Context:
    """What the parts share: settings, models, the first part's pipeline and seconds."""

    args: argparse.Namespace
    report: Report
    config: Any  # PipelineConfig, imported after the wheels are on the path
    taesd: str
    photo: bytes
    pipeline: Any = None  # the default chain, kept for the speed-up parts
    load_s: float = 0.0
    unit_s: float = 0.0  # one composition, the first part's median


def _compose_part(name: str, scheduler: str, steps_attr: str, tiny_vae: bool) -> Callable:
    def run(ctx: Context) -> None:
        import torch

        from bench.compose import LABELS, STAGES, measure
        from pipeline.chain import Pipeline

        config = replace(
            ctx.config,
            scheduler=scheduler,
            steps=getattr(ctx.args, steps_attr),
            tiny_vae=ctx.taesd if tiny_vae else None,
        )
        started = time.perf_counter()
        pipeline = Pipeline(config)
        load_s = time.perf_counter() - started
        medians, peak = measure(pipeline, ctx.photo, ctx.args.runs, ctx.args.warmup)
        add = ctx.report.add
        add(name, "model load", load_s)
        for stage in STAGES:
            add(name, LABELS.get(stage, stage), medians[stage], note="median")
        add(name, "photo -> three tracks", medians["compose"], note="median, upload apart")
        add(name, "with the upload", medians["total"], note="median")
        add(name, "per track", medians["compose"] / 3)
        ratio = medians["compose"] / TARGET_S
        add(name, f"vs the {TARGET_S} s target", ratio, "x", "met" if ratio <= 1 else "missed")
        if peak is not None:  # after the first part, the default chain stays loaded too
            note = "" if name == "compose" else "with the default chain's models resident"
            add(name, "GPU memory peak", peak, "GiB", note)
        if name == "compose":
            ctx.pipeline, ctx.load_s, ctx.unit_s = pipeline, load_s, medians["total"]
        else:
            del pipeline
            _free(torch)

    return run


def _free(torch: Any) -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def part_peers(ctx: Context) -> None:
    import torch

    from bench.peers import run_peers

    a = ctx.args
    seconds = run_peers(
        ctx.config.music_model,
        ctx.config.device,
        tiny=a.tiny,
        steps=a.dpm_steps,
        naive_steps=a.naive_steps,
        n_iter=a.griffin_lim_iters,
        tokens=a.musicgen_tokens,
        warmup=a.warmup,
    )
    add = ctx.report.add
    add("peers", "IMMU (a)", seconds["immu"], note=f"batched, DPM++ {a.dpm_steps} steps")
    add("peers", "naive Riffusion (b)", seconds["naive"], note=f"fp32, one by one, {a.naive_steps} steps, GL on CPU")  # fmt: skip
    add("peers", "MusicGen-small (c)", seconds["musicgen"], note=f"{a.musicgen_tokens} tokens")
    for key, label in (("naive", "naive / IMMU"), ("musicgen", "MusicGen / IMMU")):
        ratio = seconds[key] / seconds["immu"]
        target = PEER_TARGETS[key]
        add("peers", label, ratio, "x", f"target >= {target:.0f}x: {'met' if ratio >= target else 'missed'}")  # fmt: skip
    _free(torch)


def part_batching(ctx: Context) -> None:
    import asyncio
    import statistics

    import torch

    from pipeline.composer import ComposeRequest
    from pipeline.composition import ComposeOptions
    from pipeline.local_composer import LocalComposer

    async def jobs(composer: LocalComposer, count: int) -> tuple[float, list[float]]:
        async def one(i: int) -> float:
            started = time.perf_counter()
            request = ComposeRequest(i, ctx.photo, ComposeOptions(seed=i))
            await composer.compose(request, lambda _: None)
            return time.perf_counter() - started

        started = time.perf_counter()
        latencies = await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - started, sorted(latencies)

    async def measure(batch: int) -> tuple[float, list[float]]:
        composer = LocalComposer(replace(ctx.config, batch_jobs=batch))
        await composer.start()
        if ctx.args.warmup:
            await jobs(composer, 1)
        try:
            return await jobs(composer, ctx.args.jobs)
        finally:
            await composer.close()

    k, rates = ctx.args.jobs, {}
    for batch in sorted({1, ctx.args.batch_jobs}):
        elapsed, latencies = asyncio.run(measure(batch))
        _free(torch)
        rates[batch] = k / elapsed * 60
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        part = f"batching K={k}"
        ctx.report.add(part, f"IMMU_BATCH_JOBS={batch} jobs/min", rates[batch], "/min")
        ctx.report.add(part, f"IMMU_BATCH_JOBS={batch} p50", statistics.median(latencies))
        ctx.report.add(part, f"IMMU_BATCH_JOBS={batch} p95", p95)
    if len(rates) == 2:
        ratio = rates[ctx.args.batch_jobs] / rates[1]
        note = "pays" if ratio > 1 else "does not pay"
        ctx.report.add(f"batching K={k}", f"jobs/min {ctx.args.batch_jobs} vs 1", ratio, "x", note)


def _toggle_part(
    name: str, run_toggle: Callable[[Context], dict[str, float]], what: str
) -> Callable:
    def run(ctx: Context) -> None:
        seconds = run_toggle(ctx)
        add = ctx.report.add
        add(name, f"{what}: without", seconds["off"], note="median")
        if "warm-up" in seconds:
            add(name, "warm-up (paid once at start-up)", seconds["warm-up"])
        add(name, f"{what}: with", seconds["on"], note="median")
        speedup = seconds["off"] / seconds["on"]
        add(name, "speed-up", speedup, "x", "pays" if speedup > 1.05 else "does not pay")

    return run


def _toggle(fn_name: str, **kwargs: Any) -> Callable[[Context], dict[str, float]]:
    def run(ctx: Context) -> dict[str, float]:
        from bench import toggles

        if ctx.pipeline is None:
            raise RuntimeError("needs the compose part's pipeline")
        measure = getattr(toggles, fn_name)  # each side warmed up, whatever --warmup says
        return dict(measure(ctx.pipeline, ctx.args.runs, **kwargs))

    return run


def _parts(args: argparse.Namespace) -> dict[str, tuple[Callable[[Context], None], Callable]]:
    """Each part and its estimated seconds, from the first part's (load, one composition)."""
    runs, k = args.runs + args.warmup, args.jobs  # calls per measure
    sides = args.runs + 1  # a speed-up's two sides are always warmed up
    compose_cost: Callable[[Context], float] = lambda c: c.load_s + runs * c.unit_s  # noqa: E731
    compile_s = 20.0 if args.compile_backend == "eager" else 120.0
    diffusion = lambda c: 2 * sides * c.unit_s  # noqa: E731
    # the naive path is fp32, one prompt at a time, Griffin-Lim on the CPU: many units on
    # a GPU, a few where everything runs on the CPU anyway
    peers = 8 if args.device == "cuda" else 3
    half = "fp16" if args.device == "cuda" else "bf16"
    backend = args.compile_backend
    return {
        "compose": (_compose_part("compose", "default", "steps", False), lambda c: 0.0),
        "peers": (part_peers, lambda c: 3 * c.load_s + peers * runs * c.unit_s),
        "batching": (part_batching, lambda c: 2 * (c.load_s + (args.warmup + k) * c.unit_s)),
        "compose-dpm": (_compose_part("compose-dpm", "dpm++", "dpm_steps", False), compose_cost),
        "compose-taesd": (_compose_part("compose-taesd", "default", "steps", True), compose_cost),
        "compose-dpm-taesd": (
            _compose_part("compose-dpm-taesd", "dpm++", "dpm_steps", True),
            compose_cost,
        ),
        "gl-batched": (
            _toggle_part("gl-batched", _toggle("griffin_lim_batched"), "three tracks' audio"),
            lambda c: 2 * sides * c.unit_s,
        ),
        "fp16-vae": (
            _toggle_part("fp16-vae", _toggle("half_vae"), f"VAE decode, fp32 vs {half}"),
            lambda c: sides * c.unit_s,
        ),
        "channels-last": (
            _toggle_part("channels-last", _toggle("channels_last"), "diffusion + decode"),
            diffusion,
        ),
        "compile": (
            _toggle_part(
                "compile", _toggle("compiled_unet", backend=backend), "diffusion + decode"
            ),
            lambda c: compile_s + diffusion(c),
        ),
        "cuda-graphs": (
            _toggle_part(
                "cuda-graphs",
                _toggle("compiled_unet", mode="reduce-overhead", backend=backend),
                "diffusion + decode",
            ),
            lambda c: compile_s + diffusion(c),
        ),
    }


def _full_size_models(cache: Path) -> tuple[dict[str, str], Path]:
    """Full-size random models, written once into ``cache`` (a second run reuses them)."""
    from pipeline.weights import write_full_size_models, write_tiny_autoencoder

    done = cache / "written.json"
    if done.exists():
        return json.loads(done.read_text()), cache / "taesd"
    env = write_full_size_models(cache)
    write_tiny_autoencoder(cache / "taesd", full_size=True)
    done.write_text(json.dumps(env))
    return env, cache / "taesd"


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    if args.wheels:
        sys.path.insert(0, str(unpack_wheels(args.wheels.resolve())))
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # an offline host: no hub, no waiting for one
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import torch

    from immu.logs import setup_logging
    from pipeline.chain import PipelineConfig
    from pipeline.weights import write_tiny_autoencoder, write_tiny_models

    setup_logging("ERROR")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("kit: --device cuda, but torch sees no CUDA device")
    ffmpeg = find_ffmpeg()
    device_name = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    )
    cuda = f" (CUDA {torch.version.cuda})" if args.device == "cuda" else ""
    settings = (
        f"steps {args.steps} (DPM++ {args.dpm_steps}, naive {args.naive_steps}), "
        f"Griffin-Lim {args.griffin_lim_iters} iterations, {args.runs} timed run(s) "
        f"{'after a warm-up' if args.warmup else 'without warm-up'}, K={args.jobs}, "
        f"compile backend {args.compile_backend}, ffmpeg {ffmpeg}"
    )
    report = Report(
        args.out,
        {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "device": device_name,
            "torch": torch.__version__ + cuda,
            "python": platform.python_version(),
            "models": "tiny random weights" if args.tiny else "full-size random weights",
            "settings": settings,
            "budget_s": args.budget_s,
            "load_average": os.getloadavg()[0],
        },
    )
    print(f"kit: {device_name}; {settings}", flush=True)

    current = {"part": "setup"}

    def out_of_time() -> None:  # the watchdog: a part ran into the end of the budget
        report.parts[current["part"]] = "stopped: out of time"
        for name in args.parts:
            report.parts.setdefault(name, "skipped: out of time")
        report.meta["wall_s"] = time.perf_counter() - started
        report.write()
        print(report.markdown(), flush=True)
        print(f"kit: stopped {GRACE_S:.0f} s before the {args.budget_s:.0f} s budget", flush=True)
        os._exit(EXIT_BUDGET)

    left = args.budget_s - GRACE_S - (time.perf_counter() - started)  # imports took some
    watchdog = threading.Timer(max(0.0, left), out_of_time)
    watchdog.daemon = True
    watchdog.start()

    with tempfile.TemporaryDirectory(prefix="immu-kit-") as tmp:
        t0 = time.perf_counter()
        if args.tiny:
            env = write_tiny_models(Path(tmp) / "models")
            taesd = write_tiny_autoencoder(Path(tmp) / "taesd")
        else:
            env, taesd = _full_size_models(args.models_cache)
        report.add("setup", "write random-weight models", time.perf_counter() - t0)
        config = PipelineConfig(
            caption_model=env["IMMU_CAPTION_MODEL"],
            music_model=env["IMMU_MUSIC_MODEL"],
            device=args.device,
            steps=args.steps,
            griffin_lim_iters=args.griffin_lim_iters,
            ffmpeg=ffmpeg,
        )
        ctx = Context(args, report, config, str(taesd), PHOTO.read_bytes())
        parts = _parts(args)
        failed = skipped = False
        for name in sorted(args.parts, key=PARTS.index):  # the headline first
            run, estimate = parts[name]
            current["part"] = name
            if name == "cuda-graphs" and args.device != "cuda":
                report.parts[name] = "n/a: CUDA only"
                continue
            needed = estimate(ctx)
            left = args.budget_s - GRACE_S - (time.perf_counter() - started)
            if needed > left:
                report.parts[name] = f"skipped: needs ~{needed:.0f} s, {max(left, 0):.0f} s left"
                skipped = True
                print(f"kit: {name}: {report.parts[name]}", flush=True)
                continue
            t0, cpu0 = time.perf_counter(), time.process_time()
            print(f"kit: {name} (estimated {needed:.0f} s) ...", flush=True)
            try:
                run(ctx)
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                report.parts[name] = f"done in {wall:.1f} s ({cpu:.0f} CPU s)"
            except Exception as exc:  # one part's failure (an OOM, a compile error) is a figure too
                report.parts[name] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
                failed = True
            print(f"kit: {name}: {report.parts[name]}", flush=True)
            report.meta["wall_s"] = time.perf_counter() - started
            report.write()
    watchdog.cancel()
    report.meta["wall_s"] = time.perf_counter() - started
    report.meta["cpu_s"] = time.process_time()  # all threads; far below wall x cores: busy
    report.write()
    print(report.markdown())
    print(f"kit: wrote {args.out / 'kit.json'} and {args.out / 'kit.md'}")
    print(f"kit: wall time {report.meta['wall_s']:.1f} s")
    return EXIT_FAILED if failed else EXIT_BUDGET if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
