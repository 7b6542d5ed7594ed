"""Three ~5 s clips from the same three prompts, in one run on one device:

  (a) IMMU's chain: one batched diffusion call for the three prompts (CFG in the same
      batch) on the model's device and dtype, then Griffin-Lim for all three at once
      on that device;
  (b) the naive path people copy: diffusers' Riffusion pipeline at 50 steps in fp32,
      one prompt at a time, then Griffin-Lim on the CPU one clip at a time, as
      Riffusion's own server does;
  (c) MusicGen-small through ``transformers`` (what Mozart's Touch uses), 256 tokens
      (5.1 s at 50 Hz) for the three prompts in one batch, decoded by EnCodec.

    python bench/peers.py --device cuda          # real sizes, random weights
    python bench/peers.py --tiny --device cpu    # a quick check of this script

Random weights time the same as trained ones, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench.toggles import median_seconds
from immu.logs import setup_logging
from pipeline.audio import AudioRenderer
from pipeline.device import pick_device, pick_dtype
from pipeline.generator import SpectrogramGenerator
from pipeline.spectrogram import audio_from_images
from pipeline.weights import write_full_size_models, write_tiny_models

PROMPTS = [
    "bossa nova, serene mood, 96 bpm, a sunset over the sea",
    "ambient, serene mood, 96 bpm, a sunset over the sea",
    "acoustic folk, serene mood, 96 bpm, a sunset over the sea",
]
SEEDS = [1, 2, 3]
MUSICGEN_TOKENS = 256  # 50 frames per second: 5.12 s, one Riffusion clip

# facebook/musicgen-small: T5-base text encoder, 300M decoder, EnCodec 32 kHz
_MUSICGEN_FULL = {
    "t5": {"d_model": 768, "d_ff": 3072, "num_layers": 12, "num_heads": 12, "d_kv": 64},
    "decoder": {"hidden_size": 1024, "ffn_dim": 4096, "num_hidden_layers": 24,
                "num_attention_heads": 16},
    "encodec_filters": 64,
}  # fmt: skip
_MUSICGEN_TINY = {
    "t5": {"d_model": 32, "d_ff": 37, "num_layers": 2, "num_heads": 2, "d_kv": 16},
    "decoder": {"hidden_size": 32, "ffn_dim": 37, "num_hidden_layers": 2,
                "num_attention_heads": 2},
    "encodec_filters": 8,
}  # fmt: skip


def musicgen(size: dict[str, Any], device: str, dtype: torch.dtype) -> Any:
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    config = MusicgenConfig(
        text_encoder=T5Config(vocab_size=32128, feed_forward_proj="relu", **size["t5"]).to_dict(),
        audio_encoder=EncodecConfig(
            sampling_rate=32000, num_filters=size["encodec_filters"], codebook_size=2048,
            codebook_dim=128, upsampling_ratios=[8, 5, 4, 4], target_bandwidths=[2.2],
            use_causal_conv=False, use_conv_shortcut=False,
        ).to_dict(),
        decoder=MusicgenDecoderConfig(
            vocab_size=2048, num_codebooks=4, max_position_embeddings=2048, **size["decoder"]
        ).to_dict(),
    )  # fmt: skip
    model = MusicgenForConditionalGeneration(config).to(device, dtype).eval()  # type: ignore[arg-type]
    model.generation_config.decoder_start_token_id = 2048
    model.generation_config.pad_token_id = 2048
    return model


def time_immu(
    music: str, device: str, dtype: torch.dtype, steps: int, n_iter: int, warmup: bool = True
) -> float:
    """(a) batched prompts and CFG, half precision on a GPU, Griffin-Lim batched there."""
    ours = SpectrogramGenerator(
        music, device=device, dtype=dtype, steps=steps, guidance=7.0, scheduler="dpm++"
    )
    renderer = AudioRenderer(device=device, n_iter=n_iter)

    def immu() -> None:
        renderer.render(ours.render(PROMPTS, SEEDS))

    if warmup:
        immu()  # as the bot pays it at start-up
    return median_seconds(device, immu, runs=1)


def time_naive(music: str, device: str, steps: int, n_iter: int, warmup: bool = True) -> float:
    """(b) fp32, one prompt per call, Griffin-Lim on the CPU one clip at a time."""
    naive = SpectrogramGenerator(
        music, device=device, dtype=torch.float32, steps=steps, guidance=7.0
    )

    def copied() -> None:
        for prompt, seed in zip(PROMPTS, SEEDS, strict=True):
            image = naive.render([prompt], [seed])[0]
            audio_from_images([image], device="cpu", n_iter=n_iter, phase="griffin-lim")

    if warmup:
        copied()
    return median_seconds(device, copied, runs=1)


def time_musicgen(
    tiny: bool, device: str, dtype: torch.dtype, tokens: int, warmup: bool = True
) -> float:
    """(c) MusicGen-small, the three prompts in one batch with its default CFG."""
    model = musicgen(_MUSICGEN_TINY if tiny else _MUSICGEN_FULL, device, dtype)
    ids = torch.randint(0, 32000, (len(PROMPTS), 20), device=device)  # ~20 T5 tokens each

    def mozart() -> None:
        with torch.inference_mode():
            model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                guidance_scale=3.0,
                max_new_tokens=tokens,
            )

    if warmup:
        mozart()
    return median_seconds(device, mozart, runs=1)


def run_peers(
    music: str,
    device: str,
    *,
    tiny: bool,
    steps: int,
    naive_steps: int,
    n_iter: int,
    tokens: int,
    warmup: bool = True,
) -> dict[str, float]:
    """Seconds for the same three clips by (a) IMMU, (b) the naive path, (c) MusicGen,
    each after one warm-up call unless ``warmup`` is False."""
    dtype = pick_dtype(device)
    seconds = {"immu": time_immu(music, device, dtype, steps, n_iter, warmup)}
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    seconds["naive"] = time_naive(music, device, naive_steps, n_iter, warmup)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    seconds["musicgen"] = time_musicgen(tiny, device, dtype, tokens, warmup)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tiny", action="store_true", help="tiny models: checks the script")
    parser.add_argument("--steps", type=int, default=25, help="IMMU's steps (DPM-Solver++)")
    parser.add_argument("--naive-steps", type=int, default=50)
    parser.add_argument("--griffin-lim-iters", type=int, default=32)
    parser.add_argument("--musicgen-tokens", type=int, default=MUSICGEN_TOKENS)
    args = parser.parse_args()
    setup_logging("WARNING")
    device = pick_device(args.device)
    dtype = pick_dtype(device)

    with tempfile.TemporaryDirectory(prefix="immu-peers-") as tmp:
        env = write_tiny_models(Path(tmp)) if args.tiny else write_full_size_models(Path(tmp))
        seconds = run_peers(
            env["IMMU_MUSIC_MODEL"],
            device,
            tiny=args.tiny,
            steps=args.steps,
            naive_steps=args.naive_steps,
            n_iter=args.griffin_lim_iters,
            tokens=args.musicgen_tokens,
        )

    name = (
        torch.cuda.get_device_name()
        if device.startswith("cuda")
        else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    )
    sizes = "tiny random weights" if args.tiny else "full-size random weights"
    print(f"device: {name}; {sizes}; three ~5 s clips, the same prompts, after one warm-up")
    print(f"{'path':<58}{'seconds':>9}{'vs IMMU':>9}")
    rows = [
        (f"(a) IMMU: batched, {dtype}, DPM++ {args.steps} steps, GL on {device}", "immu"),
        (f"(b) naive Riffusion: fp32, one by one, {args.naive_steps} steps, GL on CPU", "naive"),
        (f"(c) MusicGen-small: {args.musicgen_tokens} tokens, batched, CFG 3", "musicgen"),
    ]
    for label, key in rows:
        print(f"{label:<58}{seconds[key]:>9.2f}{seconds[key] / seconds['immu']:>8.1f}x")


if __name__ == "__main__":
    main()
