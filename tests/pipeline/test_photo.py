"""Untrusted bytes become a clean, upright, bounded RGB image, or a clear PhotoError."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pipeline.errors import PhotoError, PhotoProblem
from pipeline.photo import MODEL_SIDE, clean_jpeg, load_photo
from tests.support.images import image_bytes, png_header_only


def test_exif_rotation_is_applied() -> None:
    wide = Image.new("RGB", (200, 100), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    photo = load_photo(image_bytes(wide, "JPEG", exif=exif))
    assert photo.size == (100, 200)


def test_transparency_is_flattened_on_white() -> None:
    clear = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    photo = load_photo(image_bytes(clear))
    assert photo.mode == "RGB" and photo.getpixel((10, 10)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "I;16", "LA"])
def test_any_mode_becomes_rgb(mode: str) -> None:
    image = (
        Image.new("RGB", (64, 48), (10, 120, 200)).convert(mode)
        if mode != "I;16"
        else Image.new("I;16", (64, 48), 30000)
    )
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    assert load_photo(image_bytes(image, fmt)).mode == "RGB"


def test_large_photos_are_downscaled() -> None:
    photo = load_photo(image_bytes(Image.new("RGB", (4000, 3000), "blue"), "JPEG"))
    assert max(photo.size) == MODEL_SIDE


def test_animations_give_their_first_frame() -> None:
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    pixel = load_photo(out.getvalue()).getpixel((5, 5))
    assert isinstance(pixel, tuple) and pixel[0] > 200


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", PhotoProblem.EMPTY),
        (b"%PDF-1.4 not a photo", PhotoProblem.NOT_IMAGE),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", PhotoProblem.NOT_IMAGE),
        (png_header_only(30_000, 30_000), PhotoProblem.TOO_MANY_PIXELS),
    ],
)
def test_bad_input_is_refused_with_a_reason(data: bytes, problem: PhotoProblem) -> None:
    with pytest.raises(PhotoError) as info:
        load_photo(data)
    assert info.value.problem == problem


def test_a_truncated_jpeg_is_refused() -> None:
    data = image_bytes(Image.effect_noise((300, 300), 50).convert("RGB"), "JPEG")
    with pytest.raises(PhotoError) as info:
        load_photo(data[: len(data) // 3])
    assert info.value.problem == PhotoProblem.CORRUPT


def test_the_cover_carries_no_exif_and_no_gps() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (37.0, 33.0, 0.0)}  # GPS IFD
    photo = load_photo(image_bytes(Image.new("RGB", (99, 77), "green"), "JPEG", exif=exif))
    cover = Image.open(io.BytesIO(clean_jpeg(photo)))
    assert not cover.getexif() and "exif" not in cover.info
    assert cover.size[0] % 2 == 0 and cover.size[1] % 2 == 0  # H.264 wants even sides


def test_a_small_file_that_decodes_huge_is_refused_before_decoding() -> None:
    # 166 KiB on the wire, 160 MB as a raster, 1.5 GiB through the old conversions
    bomb = image_bytes(Image.new("RGBA", (6320, 6320), (30, 90, 200, 128)), optimize=True)
    assert len(bomb) < 200_000
    with pytest.raises(PhotoError) as refused:
        load_photo(bomb)
    assert refused.value.problem == PhotoProblem.TOO_MANY_PIXELS
    assert "MiB" in str(refused.value)


def test_a_large_jpeg_still_passes_it_decodes_reduced() -> None:
    photo = image_bytes(Image.new("RGB", (6320, 6320), (200, 120, 40)), "JPEG", quality=80)
    assert max(load_photo(photo).size) == MODEL_SIDE


@pytest.mark.parametrize("mode", ["P", "I;16", "RGBA", "L"])
def test_large_photos_of_every_mode_are_reduced_and_keep_their_colours(mode: str) -> None:
    source = Image.new("RGB", (4000, 2000), (200, 40, 40))
    if mode == "I;16":
        image = Image.new("I;16", (4000, 2000), 50_000)
    elif mode == "P":
        image = source.convert("P", palette=Image.Palette.ADAPTIVE)  # red is in the palette
    else:
        image = source.convert(mode)
    loaded = load_photo(image_bytes(image))
    assert loaded.size == (MODEL_SIDE, MODEL_SIDE // 2)
    if mode in ("P", "RGBA"):
        assert loaded.getpixel((10, 10)) == (200, 40, 40)


def test_a_large_rotated_png_is_reduced_and_still_upright() -> None:
    image = Image.new("RGB", (4000, 2000), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    loaded = load_photo(image_bytes(image, exif=exif.tobytes()))
    assert loaded.size == (MODEL_SIDE // 2, MODEL_SIDE)
