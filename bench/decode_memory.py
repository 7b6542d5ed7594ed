"""Peak memory of reading one untrusted photo, per format: what a burst of photos costs.

Each sample is decoded by ``pipeline.photo.clean_photo`` in a fresh process, and the
process's peak resident memory above its baseline is printed, with the file's size
and whether it was accepted. The worst cases are small files that decode huge.

    python bench/decode_memory.py
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SIDE = 6320  # just under 40 MP: the most the pixel cap lets through

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent into a child
CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from pipeline.errors import PhotoError
from pipeline.photo import clean_photo

def peak_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

data = Path(sys.argv[1]).read_bytes()
before = peak_kib()
try:
    clean_photo(data)
    verdict = "accepted"
except PhotoError as exc:
    verdict = "refused: " + str(exc.problem)
print((peak_kib() - before) // 1024, verdict)
"""


def _samples() -> dict[str, bytes]:
    def save(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
        out = io.BytesIO()
        image.save(out, format=fmt, **kwargs)
        return out.getvalue()

    rgba = Image.new("RGBA", (SIDE, SIDE), (30, 90, 200, 128))
    rgb = Image.new("RGB", (SIDE, SIDE), (30, 90, 200))
    return {
        "PNG RGBA 6320x6320": save(rgba, "PNG", optimize=True),
        "WebP RGBA 6320x6320": save(rgba, "WEBP", lossless=True),
        "PNG 16-bit grey 6320x6320": save(Image.new("I;16", (SIDE, SIDE), 1000), "PNG"),
        "PNG palette 6320x6320": save(rgb.convert("P"), "PNG"),
        "JPEG 6320x6320": save(rgb, "JPEG", quality=90),
        "PNG RGBA 4000x3000 (a phone photo)": save(rgba.resize((4000, 3000)), "PNG"),
    }


def main() -> None:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    print(f"{'sample':36} {'file KiB':>9} {'peak MiB':>9}  verdict")
    with tempfile.TemporaryDirectory() as folder:
        for name, data in _samples().items():
            path = Path(folder) / "sample"
            path.write_bytes(data)
            out = subprocess.run(
                [sys.executable, "-c", CHILD.format(root=str(ROOT)), str(path)],
                capture_output=True, text=True, check=True,
            ).stdout.split(maxsplit=1)  # fmt: skip
            print(f"{name:36} {len(data) // 1024:9d} {int(out[0]):9d}  {out[1].strip()}")


if __name__ == "__main__":
    main()
