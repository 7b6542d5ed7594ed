"""Hostile and broken inputs, generated here (nothing downloaded).

Each entry: (file name, bytes, MIME type a client would send, what the bot should say
when the file arrives as a photo, and what it should say when it arrives as a file).
``ok`` means accepted ("queued"); other values are keys of ``bot.telegram.texts``.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

from tests.support.paths import EXAMPLE_PHOTO


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes
    mime: str | None
    as_photo: str
    as_document: str
    declared_size: int | None = None  # a size Telegram reports, if not len(data)


def _save(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb(width: int, height: int, *, real: bool) -> bytes:
    """A 1-bit PNG that claims (and, if ``real``, really holds) width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    if real:
        compressor = zlib.compressobj(9)
        row = b"\0" * (1 + (width + 7) // 8)
        body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    else:
        body = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    )


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (64, 48), c) for c in ("orange", "navy", "teal")]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _exif_jpeg(orientation: int | None = None, gps: bool = False) -> bytes:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x010F] = "PhoneMaker"
        exif[0x8825] = {1: "N", 2: (37.0, 33.0, 59.0), 3: "E", 4: (126.0, 58.0, 41.0)}
    return _save(Image.open(EXAMPLE_PHOTO).convert("RGB"), "JPEG", exif=exif)


def _heic() -> bytes | None:
    try:
        import pillow_heif

        heif = pillow_heif.from_pillow(Image.new("RGB", (64, 64), "purple"))
        out = io.BytesIO()
        heif.save(out, quality=50)
        return out.getvalue()
    except Exception:  # no HEIC encoder in this build: not part of the corpus then
        return None


def build() -> list[Sample]:
    photo = EXAMPLE_PHOTO.read_bytes()
    png = _save(Image.open(EXAMPLE_PHOTO), "PNG")
    rgba = Image.new("RGBA", (80, 60), (255, 0, 0, 128))
    palette = Image.new("P", (80, 60), 1)
    palette.info["transparency"] = 0
    zip_bytes = b"PK\x03\x04" + b"\0" * 26 + b"payload.txt" + b"hello" * 20
    samples = [
        Sample("empty.jpg", b"", "image/jpeg", "empty", "empty"),
        Sample("truncated.jpg", photo[: len(photo) // 3], "image/jpeg", "corrupt", "corrupt"),
        Sample("truncated.png", png[: len(png) // 2], "image/png", "corrupt", "corrupt"),
        Sample("bomb-header.png", _png_bomb(50_000, 50_000, real=False), "image/png", "too_many_pixels", "too_many_pixels"),
        Sample("bomb-real.png", _png_bomb(50_000, 50_000, real=True), "image/png", "too_many_pixels", "too_many_pixels"),
        Sample("huge.jpg", photo, "image/jpeg", "too_large", "too_large", declared_size=60 * 1024 * 1024),
        Sample("animated.gif", _animated("GIF"), "image/gif", "ok", "ok"),
        Sample("animated.webp", _animated("WEBP"), "image/webp", "ok", "ok"),
        Sample("cmyk.jpg", _save(Image.new("CMYK", (90, 70), (0, 120, 200, 10)), "JPEG"), "image/jpeg", "ok", "ok"),
        Sample("gray16.png", _save(Image.new("I;16", (90, 70), 40_000), "PNG"), "image/png", "ok", "ok"),
        Sample("palette-transparent.png", _save(palette, "PNG"), "image/png", "ok", "ok"),
        Sample("rgba.png", _save(rgba, "PNG"), "image/png", "ok", "ok"),
        Sample("exif-rotated.jpg", _exif_jpeg(orientation=6), "image/jpeg", "ok", "ok"),
        Sample("gps.jpg", _exif_jpeg(gps=True), "image/jpeg", "ok", "ok"),
        Sample("picture.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>', "image/svg+xml", "not_image", "not_image"),
        Sample("invoice.pdf.jpg", b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF", "image/jpeg", "not_image", "not_image"),
        Sample("program.exe", b"MZ\x90\x00" + b"\0" * 60 + b"PE\0\0" + b"\x4c\x01" * 50, "application/x-msdownload", "not_image", "unsupported"),
        Sample("elf.jpg", b"\x7fELF\x02\x01\x01" + b"\0" * 100, "image/jpeg", "not_image", "not_image"),
        Sample("polyglot.jpg", photo + zip_bytes + b"<script>alert(1)</script>", "image/jpeg", "ok", "ok"),
        Sample("note.png", b"this is only text, not a png", "image/png", "not_image", "not_image"),
        Sample("page.jpg", b"<!doctype html><html><body>hi</body></html>", "image/jpeg", "not_image", "not_image"),
        Sample("noise.jpg", bytes(range(256)) * 40, "image/jpeg", "not_image", "not_image"),
        Sample("archive.jpg", zip_bytes, "image/jpeg", "not_image", "not_image"),
        Sample("song.jpg", b"ID3\x03\x00\x00\x00\x00\x00\x10" + b"\xff\xfb\x90\x00" * 64, "image/jpeg", "not_image", "not_image"),
        Sample("pixel.png", _save(Image.new("RGB", (1, 1), "white"), "PNG"), "image/png", "ok", "ok"),
        Sample("panorama.jpg", _save(Image.new("RGB", (8000, 120), "skyblue"), "JPEG"), "image/jpeg", "ok", "ok"),
        Sample("gray.jpg", _save(Image.new("L", (100, 80), 90), "JPEG"), "image/jpeg", "ok", "ok"),
        Sample("old.bmp", _save(Image.new("RGB", (50, 40), "olive"), "BMP"), "image/bmp", "ok", "ok"),
        Sample("scan.tiff", _save(Image.new("RGB", (50, 40), "tan"), "TIFF"), "image/tiff", "ok", "ok"),
        Sample("photo.jpg.txt", photo, "text/plain", "ok", "unsupported"),
        Sample("readme.txt", b"hello there", "text/plain", "not_image", "unsupported"),
        Sample("la.png", _save(Image.new("LA", (40, 40), (100, 50)), "PNG"), "image/png", "ok", "ok"),
    ]  # fmt: skip
    heic = _heic()
    if heic is not None:
        samples.append(Sample("phone.heic", heic, "image/heic", "ok", "ok"))
    return samples
