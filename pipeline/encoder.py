"""Waveform (+ cover) -> MP3 with ID3 tags and cover art, or MP4 video, through ffmpeg."""

from __future__ import annotations

import io
import logging
import subprocess
import tempfile
import wave
from pathlib import Path

import ffmpeg
import numpy as np

from pipeline.errors import EncodeError
from pipeline.loudness import TARGET_LUFS, master
from pipeline.spectrogram import SAMPLE_RATE

log = logging.getLogger(__name__)

MP3_BITRATE = "192k"
AAC_BITRATE = "192k"
# LAME's MP3 measures 0.3 LU under the waveform it was made from, steadily: aim that
# much higher, so the file lands on the target (bench/loudness.py); AAC loses nothing
MP3_LOUDNESS_LOSS_LU = 0.3
FFMPEG = "ffmpeg"  # the binary on the PATH, unless the operator names another
FFMPEG_TIMEOUT_S = 120.0  # a 5 s track encodes in well under a second; a minute is a hang


def wav_bytes(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Float waveform in [-1, 1] -> 16-bit mono WAV bytes."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    return out.getvalue()


def probe_duration(path: Path | str, *, binary: str = FFMPEG) -> float:
    """Seconds of audio in a file: its decoded samples, counted.

    ffmpeg alone, not ffprobe: a static ffmpeg (imageio-ffmpeg's) comes without ffprobe.
    """
    return len(decode_audio(path, binary=binary)) / SAMPLE_RATE


def decode_audio(path: Path | str, *, binary: str = FFMPEG) -> np.ndarray:
    """A file's audio as a mono float waveform at ``SAMPLE_RATE``, through ffmpeg."""
    try:
        pcm, _ = (
            ffmpeg.input(str(path))
            .output("pipe:", format="s16le", ac=1, ar=SAMPLE_RATE)
            .run(cmd=binary, capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as exc:
        raise EncodeError("ffmpeg cannot read the audio") from exc
    except OSError as exc:
        raise EncodeError(_missing(binary)) from exc
    return np.frombuffer(pcm, "<i2").astype(np.float32) / 32768


def _missing(binary: str) -> str:
    return (
        f"ffmpeg cannot be run as {binary!r}: install ffmpeg (apt-get install ffmpeg) "
        "or set IMMU_FFMPEG to the path of an ffmpeg binary"
    )


class Encoder:
    """ffmpeg encodes. Inputs are always ours: a WAV we wrote and a JPEG Pillow wrote.

    ``binary`` is the ffmpeg to run: a name on the PATH or a path (IMMU_FFMPEG).
    """

    def __init__(self, binary: str = FFMPEG, timeout_s: float = FFMPEG_TIMEOUT_S) -> None:
        self.binary = binary
        self.timeout_s = timeout_s

    def mp3(self, audio: np.ndarray, *, cover_jpeg: bytes, title: str, genre: str) -> bytes:
        """The track at -14 LUFS, its true peak under -1 dBTP, faded in and out
        (``pipeline.loudness``), as an MP3 with tags and the cover."""
        audio = master(audio, SAMPLE_RATE, target_lufs=TARGET_LUFS + MP3_LOUDNESS_LOSS_LU)
        with tempfile.TemporaryDirectory(prefix="immu-enc-") as tmp:
            wav, cover, out = Path(tmp, "in.wav"), Path(tmp, "cover.jpg"), Path(tmp, "out.mp3")
            wav.write_bytes(wav_bytes(audio))
            cover.write_bytes(cover_jpeg)
            stream = ffmpeg.output(
                ffmpeg.input(str(wav)).audio,
                ffmpeg.input(str(cover)).video,
                str(out),
                acodec="libmp3lame",
                audio_bitrate=MP3_BITRATE,
                vcodec="mjpeg",
                id3v2_version=3,
                disposition="attached_pic",
                **{
                    "metadata:g:0": f"title={title}",
                    "metadata:g:1": f"genre={genre}",
                    "metadata:g:2": "artist=IMMU",
                    "metadata:s:v": "comment=Cover (front)",
                },
            )
            self._run(stream)
            return out.read_bytes()

    def mp4(self, mp3: bytes, *, cover_jpeg: bytes) -> bytes:
        """A still-image video of the photo with the track, for the channel feed.

        The MP3 is decoded and mastered again (its encoding raised the peaks) before
        AAC encodes it, without perceptual noise substitution: ffmpeg's AAC with it put
        a limited track's true peak up to +1.9 dBTP (bench/loudness.py).
        """
        with tempfile.TemporaryDirectory(prefix="immu-enc-") as tmp:
            audio, cover, out = Path(tmp, "in.mp3"), Path(tmp, "cover.jpg"), Path(tmp, "out.mp4")
            audio.write_bytes(mp3)
            cover.write_bytes(cover_jpeg)
            wave_ = decode_audio(audio, binary=self.binary)
            wave_ = master(wave_, SAMPLE_RATE)
            seconds = len(wave_) / SAMPLE_RATE
            wav = Path(tmp, "in.wav")
            wav.write_bytes(wav_bytes(wave_))
            stream = ffmpeg.output(
                ffmpeg.input(str(cover), loop=1, framerate=2, t=seconds).video,
                ffmpeg.input(str(wav)).audio,
                str(out),
                vcodec="libx264",
                tune="stillimage",
                pix_fmt="yuv420p",
                acodec="aac",
                audio_bitrate=AAC_BITRATE,
                aac_pns=0,
                t=seconds,  # -shortest overshoots with a looped still image
                movflags="+faststart",
            )
            self._run(stream)
            return out.read_bytes()

    def _run(self, stream: ffmpeg.nodes.OutputStream) -> None:
        """ffmpeg once, bounded in time: a hung encode must not hold a post, and its job's
        lock, for ever."""
        try:
            process = stream.run_async(
                cmd=self.binary, quiet=True, overwrite_output=True, pipe_stderr=True
            )
        except OSError as exc:  # not there, not executable, not a program
            raise EncodeError(_missing(self.binary)) from exc
        try:
            _, stderr = process.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.communicate()
            raise EncodeError(f"ffmpeg took longer than {self.timeout_s:.0f} s") from exc
        if process.returncode != 0:
            tail = (stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
            raise EncodeError(f"ffmpeg failed: {' '.join(tail) or process.returncode}")
