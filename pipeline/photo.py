"""Reading untrusted photo bytes into a clean, bounded RGB image."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import PhotoError, PhotoProblem

MAX_PIXELS = 40_000_000  # a 40 MP photo is fine; a decompression bomb is not
# What one decode may hold once the format's own reduction is applied: JPEG decodes at
# 1/2..1/8 size, so any 40 MP JPEG fits; PNG, WebP, HEIC and the rest decode whole, and
# Pillow's decoders briefly hold about twice the raster. 25 MP at 4 bytes a pixel: a
# 24 MP HEIC from a phone passes, a 6320x6320 PNG of 166 KiB (1.5 GiB after the
# conversions it used to go through) does not.
MAX_DECODED_BYTES = 100_000_000
MODEL_SIDE = 1024  # longest side kept after loading; BLIP looks at 384 px anyway
COVER_SIDE = 800
JPEG_QUALITY = 90

try:  # HEIC/HEIF from phones, when the wheel is available
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - optional
    pass


def load_photo(data: bytes, *, max_side: int = MODEL_SIDE) -> Image.Image:
    """Decode untrusted bytes to an upright RGB image no larger than ``max_side``.

    EXIF orientation is applied, transparency is flattened on white, animations
    give their first frame; anything else raises ``PhotoError``.
    """
    if not data:
        raise PhotoError(PhotoProblem.EMPTY, "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise PhotoError(
                    PhotoProblem.TOO_MANY_PIXELS,
                    f"the image is {width}x{height}; at most {MAX_PIXELS // 1_000_000} MP",
                )
            opened.seek(0)
            opened.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced size
            decoded = _decoded_bytes(opened)
            if decoded > MAX_DECODED_BYTES:
                raise PhotoError(
                    PhotoProblem.TOO_MANY_PIXELS,
                    f"the image is {width}x{height} and would take {decoded // 2**20} MiB "
                    f"to decode; at most {MAX_DECODED_BYTES // 2**20} MiB",
                )
            opened.load()
            image = _reduce(opened, max_side)
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoError(
            PhotoProblem.TOO_MANY_PIXELS,
            f"the image has too many pixels; at most {MAX_PIXELS // 1_000_000} MP",
        ) from exc
    except UnidentifiedImageError as exc:
        raise PhotoError(PhotoProblem.NOT_IMAGE, "the file is not an image") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PhotoError(PhotoProblem.CORRUPT, "the image is damaged or truncated") from exc
    return _normalise(image, max_side)


def _decoded_bytes(image: Image.Image) -> int:
    """Bytes of the decoded raster: Pillow keeps one byte a pixel for L and P, two for
    16-bit grey, four for everything else (RGB is stored as RGBX)."""
    per_pixel = 1 if image.mode in ("1", "L", "P") else 2 if image.mode.startswith("I;16") else 4
    return image.width * image.height * per_pixel


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink a large raster at once, before any conversion copies it at full size."""
    factor = max(image.size) // max_side
    if factor < 2:
        return image
    if image.mode in ("L", "LA", "RGB", "RGBA", "CMYK", "I", "F"):
        reduced = image.reduce(factor)  # box filter: averages, no aliasing
    else:  # palette, 16-bit grey, bilevel: nearest keeps the mode and the palette
        size = (max(1, image.width // factor), max(1, image.height // factor))
        reduced = image.resize(size, Image.Resampling.NEAREST)
    reduced.info = image.info  # EXIF orientation is applied after this
    return reduced


def _normalise(image: Image.Image, max_side: int) -> Image.Image:
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda value: value / 256).convert("L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    image = image.convert("RGB")  # CMYK, L, P, YCbCr ...
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    image.info.clear()
    return image


def clean_jpeg(image: Image.Image, *, max_side: int = COVER_SIDE) -> bytes:
    """Re-encode as a metadata-free JPEG (no EXIF, no GPS): what ffmpeg and the channel get."""
    copy = image.convert("RGB")
    copy.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if min(copy.size) < 16:  # a 1-pixel "photo" still makes a valid cover and video
        scale = 16 / min(copy.size)
        copy = copy.resize(
            (max(16, round(copy.width * scale)), max(16, round(copy.height * scale)))
        )
    # even sides keep H.264's yuv420p happy
    w, h = copy.size
    if w % 2 or h % 2:
        copy = copy.crop((0, 0, w - w % 2, h - h % 2))
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def clean_photo(data: bytes) -> bytes:
    """Untrusted bytes -> an upright, bounded JPEG without metadata; ``PhotoError`` if unusable."""
    return clean_jpeg(load_photo(data), max_side=MODEL_SIDE)
