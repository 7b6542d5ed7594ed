"""The ``immu`` command: compose from the terminal, converters, models, the bot."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class CliError(Exception):
    """A one-line problem for the person at the terminal."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def main(argv: list[str] | None = None) -> int:
    from pipeline.quiet import quiet_model_libraries

    quiet_model_libraries()  # before anything imports them
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        from bot.settings import Settings

        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        print(f"immu: setting {field.upper()} is invalid: {first['msg']}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from immu.logs import setup_logging

    setup_logging(settings.log_level, settings.secrets())
    try:
        return int(args.run(args, settings) or 0)
    except CliError as exc:
        print(f"immu: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from pipeline.errors import PhotoError, PipelineError
        from storage import StoreError, StoreTooNew

        if isinstance(exc, StoreError):
            print(f"immu: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT if isinstance(exc, StoreTooNew) else EXIT_FAILED
        if isinstance(exc, PhotoError):
            print(f"immu: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if isinstance(exc, PipelineError):
            print(f"immu: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="immu", description="IMMU: a photo in, music out.")
    parser.add_argument("--version", action="version", version=f"immu {_version()}")
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("compose", help="turn a photo into three MP3 tracks")
    p.add_argument("photo", type=Path)
    p.add_argument("-o", "--out", type=Path, default=Path("immu-out"), help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="diffusion steps (default: setting)")
    p.set_defaults(run=_compose)  # after the photo is checked

    p = sub.add_parser("audio-to-image", help="audio file -> Riffusion spectrogram image")
    p.add_argument("audio", type=Path)
    p.add_argument("image", type=Path)
    p.add_argument("--start", type=float, default=0.0, help="seconds into the audio")
    p.set_defaults(run=_audio_to_image)

    p = sub.add_parser("image-to-audio", help="Riffusion spectrogram image -> WAV")
    p.add_argument("image", type=Path)
    p.add_argument("audio", type=Path)
    p.set_defaults(run=_image_to_audio)

    models = sub.add_parser("models", help="fetch real weights or write tiny ones")
    msub = models.add_subparsers(metavar="ACTION")
    p = msub.add_parser("download", help="fetch the configured models into the hub cache")
    p.set_defaults(run=_models_download)
    p = msub.add_parser("tiny", help="write tiny random-weight models (noise, for tests)")
    p.add_argument("folder", type=Path)
    p.set_defaults(run=_models_tiny)

    p = sub.add_parser("bot", help="run the Telegram bot (and the pipeline in-process)")
    p.set_defaults(run=_bot)

    p = sub.add_parser("doctor", help="check this host for the bot: each line ok, or how to fix it")
    p.set_defaults(run=_doctor)

    p = sub.add_parser("worker", help="serve the pipeline to the bot from a Ray cluster")
    p.add_argument("--address", default=None, help="Ray address (default: IMMU_RAY_ADDRESS)")
    p.add_argument("--workers", type=int, default=None, help="actors here (default: one per GPU)")
    p.add_argument("--name", default=None, help="this host's name in actor names")
    p.add_argument(
        "--list", action="store_true", help="list the cluster's workers (ready or restarting)"
    )
    p.set_defaults(run=_worker, models=False)  # the actors load the models, not this process

    p = sub.add_parser("backup", help="one archive of the store and its files, while the bot runs")
    p.add_argument("path", type=Path, help="the archive to write (a .tar)")
    p.set_defaults(run=_backup)

    p = sub.add_parser(
        "restore", help="put a backup in place as IMMU_DATA_DIR (stop the bot first)"
    )
    p.add_argument("path", type=Path, help="an archive of immu backup")
    p.add_argument(
        "--force", action="store_true", help="replace the store and files of a non-empty folder"
    )
    p.set_defaults(run=_restore)
    return parser


def _version() -> str:
    """The installed package's version: pyproject.toml's, as pip recorded it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("immu")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def _read_input(path: Path) -> bytes:
    if path.is_dir():
        raise CliError(f"{path} is a directory, not a file")
    if not path.exists():
        raise CliError(f"{path} does not exist")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc


def _compose(args: argparse.Namespace, settings: object) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.settings import Settings
    from pipeline.chain import Pipeline
    from pipeline.composition import ComposeOptions, Stage
    from pipeline.composition import Progress as Event
    from pipeline.photo import load_photo

    assert isinstance(settings, Settings)
    photo = _read_input(args.photo)
    load_photo(photo)  # refuse bad input before minutes of model loading
    console = Console(stderr=True)
    labels = {
        Stage.CAPTION: "captioning",
        Stage.BRIEF: "writing the brief",
        Stage.MUSIC: "composing",
        Stage.AUDIO: "spectrograms to audio",
        Stage.ENCODE: "encoding MP3s",
    }
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("loading models", total=None)
        pipeline = Pipeline(settings.pipeline_config())

        def on_progress(event: Event) -> None:
            if event.total:
                bar.update(
                    task, description=labels[event.stage], completed=event.step, total=event.total
                )
            else:
                bar.update(task, description=labels[event.stage], completed=0, total=None)
            if not console.is_terminal:
                step = f" {event.step}/{event.total}" if event.total else ""
                console.print(f"{labels[event.stage]}{step}")

        options = ComposeOptions(seed=args.seed, steps=args.steps)
        composition = pipeline.compose(photo, options, on_progress)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for track in composition.tracks:
        mp3 = out / f"track-{track.index + 1}.mp3"
        png = out / f"track-{track.index + 1}.png"
        mp3.write_bytes(track.mp3)
        png.write_bytes(track.spectrogram_png)
        paths += [mp3, png]
    summary = composition.summary()
    (out / "composition.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    brief = composition.brief
    print("captions:")
    for caption in composition.captions:
        print(f"  - {caption}")
    print(f"brief ({brief.source}): {brief.description}")
    print(f"mood: {brief.mood}")
    for track in composition.tracks:
        print(
            f"track {track.index + 1}: {track.genre} ({track.duration_s:.2f} s) seed={track.seed}"
        )
    for path in [*paths, out / "composition.json"]:
        print(f"wrote {path}")
    return 0


def _decode_audio(path: Path, start: float, seconds: float, binary: str) -> object:
    import ffmpeg
    import numpy as np

    from pipeline.spectrogram import SAMPLE_RATE

    try:
        raw, _ = (
            ffmpeg.input(str(path), ss=start, t=seconds)
            .output("pipe:", format="f32le", ac=1, ar=SAMPLE_RATE)
            .run(cmd=binary, capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as exc:
        raise CliError(f"{path} is not audio that ffmpeg can read") from exc
    except OSError as exc:  # not there, not executable
        raise CliError(
            f"ffmpeg cannot be run as {binary!r}: install ffmpeg or set IMMU_FFMPEG to its path",
            EXIT_FAILED,
        ) from exc
    audio = np.frombuffer(raw, dtype=np.float32)
    if audio.size == 0:
        raise CliError(f"{path} has no audio after {start} s")
    return audio


def _audio_to_image(args: argparse.Namespace, settings: object) -> int:
    from bot.settings import Settings
    from pipeline.spectrogram import CLIP_SAMPLES, SAMPLE_RATE, image_from_audio

    assert isinstance(settings, Settings)
    _read_input(args.audio)
    audio = _decode_audio(args.audio, args.start, CLIP_SAMPLES / SAMPLE_RATE, settings.ffmpeg)
    image_from_audio(audio).save(args.image)  # type: ignore[arg-type]
    print(f"wrote {args.image}")
    return 0


def _image_to_audio(args: argparse.Namespace, settings: object) -> int:
    from PIL import Image, UnidentifiedImageError

    from bot.settings import Settings
    from pipeline.device import pick_device
    from pipeline.encoder import wav_bytes
    from pipeline.spectrogram import N_MELS, audio_from_images

    _read_input(args.image)
    try:
        image = Image.open(args.image)
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise CliError(f"{args.image} is not an image") from exc
    if image.height != N_MELS:  # one row per mel bin, as Riffusion writes them
        raise CliError(
            f"{args.image} is {image.height} pixels tall; a Riffusion spectrogram is {N_MELS}"
        )
    assert isinstance(settings, Settings)
    device = pick_device(settings.device)
    (audio,) = audio_from_images(
        [image], device=device, n_iter=settings.griffin_lim_iters, phase=settings.phase
    )
    args.audio.write_bytes(wav_bytes(audio))
    print(f"wrote {args.audio}")
    return 0


def _models_download(args: argparse.Namespace, settings: object) -> int:
    from bot.settings import Settings
    from pipeline.weights import download_models

    assert isinstance(settings, Settings)
    wanted = [settings.caption_model, settings.music_model, settings.tiny_vae]
    if settings.moderation == "auto":  # the photo classifier runs only in auto mode
        wanted.append(settings.safety_model)
    for folder in download_models([repo for repo in wanted if repo]):
        print(f"ready: {folder}")
    return 0


def _models_tiny(args: argparse.Namespace, settings: object) -> int:
    from pipeline.weights import write_tiny_models

    env = write_tiny_models(args.folder)
    print("# tiny random-weight models: the music they make is noise, by design", file=sys.stderr)
    for key, value in env.items():
        print(f"{key}={value}")
    return 0


def _bot(args: argparse.Namespace, settings: object) -> int:
    from bot.app import run_bot

    return run_bot(settings)  # type: ignore[arg-type]


def _doctor(args: argparse.Namespace, settings: object) -> int:
    from bot.settings import Settings
    from immu.doctor import can_start, run_checks, show

    assert isinstance(settings, Settings)
    lines = run_checks(settings)
    show(lines)
    return 0 if can_start(lines) else EXIT_FAILED


def _worker(args: argparse.Namespace, settings: object) -> int:
    import signal
    import socket
    import threading

    from bot.settings import Settings

    assert isinstance(settings, Settings)
    try:
        import ray

        from pipeline.ray_cluster import RayClusterError, join_cluster
        from pipeline.ray_worker import list_workers, secrets_for_actors, start_workers
    except ImportError as exc:
        raise CliError("Ray is not installed: pip install -e '.[ray]'", EXIT_FAILED) from exc
    try:
        join_cluster(args.address or settings.ray_address, allow_no_auth=settings.ray_allow_no_auth)
    except RayClusterError as exc:
        raise CliError(str(exc)) from None
    if args.list:
        workers = list_workers()
        for status in workers:
            print(status.line())
        if not workers:
            print("immu: no pipeline worker is in the cluster", file=sys.stderr)
        return 0
    import torch

    gpus = torch.cuda.device_count()
    count = args.workers or max(1, gpus)
    name = args.name or f"{socket.gethostname()}-{os.getpid()}"
    stop = threading.Event()  # SIGTERM or SIGINT: remove this host's actors, then exit
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    config = settings.pipeline_config()
    with secrets_for_actors(config) as secrets_path:
        actors = start_workers(
            config,
            count=count,
            gpus_per_worker=1 if gpus else 0,
            name=name,
            secrets_path=secrets_path,
        )
        print(f"immu worker {name}: {len(actors)} pipeline actor(s) serving", flush=True)
        stop.wait()
        for actor in actors:
            ray.kill(actor)
    ray.shutdown()
    print(f"immu worker {name}: stopped, its actors removed", flush=True)
    return 0


def _backup(args: argparse.Namespace, settings: object) -> int:
    import asyncio

    from bot.pseudonym import KEY_FILE
    from bot.settings import Settings
    from storage import write_archive

    assert isinstance(settings, Settings)
    if not settings.db_path.exists():
        raise CliError(f"no store at {settings.db_path} (IMMU_DATA_DIR)")
    # the pseudonym key too: without it a restored install names everyone anew
    done = asyncio.run(write_archive(settings.data_dir, args.path, keep=[KEY_FILE]))
    if done.missing:  # a /forget between the snapshot and the copy: rows without files
        print(f"immu: {len(done.missing)} files were deleted while backing up", file=sys.stderr)
    if done.outside:  # rows from before relative paths, whose folder has moved
        print(
            f"immu: {len(done.outside)} files outside {settings.data_dir} are not in the"
            f" backup, e.g. {done.outside[0]}",
            file=sys.stderr,
        )
    size_mb = done.size / 1_000_000
    print(f"backed up the store and {done.files} files to {args.path} ({size_mb:.1f} MB)")
    return 0


def _restore(args: argparse.Namespace, settings: object) -> int:
    import asyncio

    from bot.settings import Settings
    from storage import restore_archive

    assert isinstance(settings, Settings)
    if not args.path.is_file():
        raise CliError(f"{args.path} is not a backup file")
    files = asyncio.run(restore_archive(args.path, settings.data_dir, force=args.force))
    print(f"restored the store and {files} files from {args.path} to {settings.data_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
