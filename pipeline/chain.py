"""The whole chain: photo bytes -> captions -> brief -> spectrograms -> audio -> MP3s."""

from __future__ import annotations

import io
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from pipeline.audio import AudioRenderer
from pipeline.batching import RenderBatcher
from pipeline.brief import BriefWriter
from pipeline.captioner import Captioner
from pipeline.composition import (
    ComposeOptions,
    Composition,
    Progress,
    ProgressCallback,
    Stage,
    Track,
)
from pipeline.config import PipelineConfig
from pipeline.device import pick_device, pick_dtype
from pipeline.encoder import Encoder
from pipeline.generator import SpectrogramGenerator
from pipeline.mood import read_mood
from pipeline.photo import clean_jpeg, load_photo

log = logging.getLogger(__name__)

N_TRACKS = 3
CONTINUE_STRENGTH = 0.6  # how much a next clip may depart from the previous one
REMIX_STRENGTH = 0.5  # a remix keeps half of the original spectrogram
WALK_SEED_OFFSET = 7919  # a long track's noise walks from its seed to this far from it


def _noop(_: Progress) -> None:
    return None


class Pipeline:
    """Loads every model once; ``compose`` may run in several threads at once.

    GPU work takes one lock, one job at a time, and waiting jobs' text-to-image
    renders share one diffusion call (``batch_jobs``); the language-model call and
    ffmpeg run outside the lock, overlapping with another job's GPU work.
    """

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.device = pick_device(config.device)
        dtype = pick_dtype(self.device)
        started = time.perf_counter()
        self.captioner = Captioner(config.caption_model, device=self.device, dtype=dtype)
        self.briefs = BriefWriter(
            api_key=config.llm_api_key,
            base_url=config.llm_base_url,
            model=config.llm_model,
            timeout_s=config.llm_timeout_s,
        )
        self.generator = SpectrogramGenerator(
            config.music_model,
            device=self.device,
            dtype=dtype,
            steps=config.steps,
            guidance=config.guidance,
            scheduler=config.scheduler,
            tiny_vae=config.tiny_vae,
        )
        self._gpu = threading.Lock()
        self.batcher = RenderBatcher(
            self.generator.render, max_jobs=config.batch_jobs, gpu=self._gpu
        )
        self.audio = AudioRenderer(
            device=self.device, n_iter=config.griffin_lim_iters, phase=config.phase
        )
        self.encoder = Encoder(config.ffmpeg)
        self._encode_pool = ThreadPoolExecutor(N_TRACKS, thread_name_prefix="immu-encode")
        log.info(
            "pipeline loaded device=%s seconds=%.1f", self.device, time.perf_counter() - started
        )

    def compose(
        self,
        photo: bytes,
        options: ComposeOptions | None = None,
        on_progress: ProgressCallback = _noop,
    ) -> Composition:
        """Photo bytes in, three tracks out. Raises ``PhotoError`` on unusable input."""
        options = options or ComposeOptions()
        seconds: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            seconds[stage] = round(now - clock, 4)
            clock = now

        # 1. read the photo: upright RGB, bounded size, a clean JPEG for covers
        image = load_photo(photo)
        cover = clean_jpeg(image)

        # 2. caption it three ways
        on_progress(Progress(Stage.CAPTION))
        with self._gpu:
            captions = self.captioner.caption(image, seed=options.seed)
        lap("caption")

        # 3. one brief from the captions and the photo's mood
        on_progress(Progress(Stage.BRIEF))
        mood = read_mood(image, captions)
        vision = cover if self.config.brief_mode == "vision" else None
        brief = self.briefs.write(captions, mood, image_jpeg=vision)
        lap("brief")

        # 4. three spectrograms in one diffusion batch (or three variations of a remixed one)
        genres = list(brief.genres)
        prompts = [brief.prompt(i) for i in range(N_TRACKS)]
        seeds = [options.seed * N_TRACKS + i for i in range(N_TRACKS)]
        on_progress(Progress(Stage.MUSIC))
        on_step = lambda k, n: on_progress(Progress(Stage.MUSIC, k, n))  # noqa: E731
        render_times: dict[str, float] = {}
        if options.remix_png is not None:
            source = Image.open(io.BytesIO(options.remix_png)).convert("RGB")
            genres = [options.remix_genre or brief.genres[0]] * N_TRACKS
            prompts = [options.remix_prompt or prompts[0]] * N_TRACKS
            with self._gpu:
                images = self.generator.vary(
                    [source] * N_TRACKS,
                    prompts,
                    seeds,
                    strength=REMIX_STRENGTH,
                    steps=options.steps,
                    on_step=on_step,
                )
        else:
            images = self.batcher.render(
                prompts, seeds, steps=options.steps, on_step=on_step, timings=render_times
            )
        # longer tracks, made as Riffusion makes them: each next clip grows from the
        # previous spectrogram (img2img) while its noise walks from the track's seed to
        # a second seed, so the music drifts instead of jumping between clips
        duration = options.duration_s or self.config.duration_s
        segments = [images]
        clips = self.audio.clips_needed(duration) if duration > self.audio.clip_seconds else 1
        targets = [seed + WALK_SEED_OFFSET for seed in seeds]
        for k in range(1, clips):
            with self._gpu:
                segments.append(
                    self.generator.vary(
                        segments[-1],
                        prompts,
                        seeds,
                        strength=CONTINUE_STRENGTH,
                        toward_seeds=targets,
                        alpha=k / (clips - 1),
                        steps=options.steps,
                        on_step=on_step,
                    )
                )
        lap("music")
        if "decode" in render_times:  # the first clips' VAE decode, apart from diffusion
            seconds["decode"] = round(render_times["decode"], 4)
            seconds["music"] = round(seconds["music"] - seconds["decode"], 4)

        # 5. spectrograms -> waveforms, all tracks of a segment at once
        on_progress(Progress(Stage.AUDIO))
        with self._gpu:
            rendered = [self.audio.render(segment, seed=options.seed) for segment in segments]
        if len(rendered) == 1:
            waves = rendered[0]
        else:
            waves = [self.audio.join([r[i] for r in rendered], duration) for i in range(N_TRACKS)]
        lap("audio")

        # 6. MP3s with tags and cover art, encoded in parallel
        on_progress(Progress(Stage.ENCODE))
        mp3s = list(
            self._encode_pool.map(
                lambda i: self.encoder.mp3(
                    waves[i],
                    cover_jpeg=cover,
                    title=f"IMMU {i + 1} - {genres[i]}",
                    genre=genres[i],
                ),
                range(N_TRACKS),
            )
        )
        lap("encode")

        tracks = tuple(
            Track(
                index=i,
                genre=genres[i],
                prompt=prompts[i],
                seed=seeds[i],
                mp3=mp3s[i],
                spectrogram_png=_png(images[i]),
                duration_s=round(len(waves[i]) / self.audio.sample_rate, 3),
            )
            for i in range(N_TRACKS)
        )
        log.info(
            "composed brief=%s %s",
            brief.source,
            " ".join(f"{k}_s={v:.2f}" for k, v in seconds.items()),
        )
        return Composition(
            captions=tuple(captions), brief=brief, tracks=tracks, cover_jpeg=cover, seconds=seconds
        )


def _png(image: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")  # type: ignore[attr-defined]
    return out.getvalue()
