"""On a connected machine: the wheels an offline GPU host lacks, for that host's Python.

    python bench/wheels.py --dest immu-wheels                       # CPython 3.12, manylinux x86_64
    python bench/wheels.py --dest immu-wheels --python-version 3.10
    python bench/wheels.py --dest immu-wheels --have-from host-freeze.txt  # the host's `pip freeze`

A GPU host usually has its own Python with torch, transformers, accelerate,
safetensors, numpy and pillow (``--have``). This resolves IMMU's dependencies, the
benchmark kit's (imageio-ffmpeg: a static ffmpeg; aiohttp: the fake Bot API) and the
host's packages together, so shared dependencies get versions that fit both, then
downloads with ``pip download --only-binary=:all:`` only what the host lacks. With
``--have-from`` the host's exact versions take part in the resolution.

Then copy the repository and the folder to the host and run ``bench/kit.py --wheels``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST_HAS = ["torch", "transformers", "accelerate", "safetensors", "numpy", "pillow"]
KIT_NEEDS = [
    # 0.7 is ffmpeg 7 for glibc 2.17 in 29 MB; 0.8 ships ffmpeg 9 in 68 MB (manylinux_2_28)
    "imageio-ffmpeg>=0.5,<0.8",
    "aiohttp>=3.10",  # bench/compose.py's upload stage talks to the fake Bot API
]
# glibc 2.28 or later, as torch >= 2.9 needs; pip 23 does not expand manylinux_2_28 to
# the older tags itself, and manylinux2014 brings manylinux2010 and manylinux1 along
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64"]  # fmt: skip
MAX_MB = 60.0


def canonical(name: str) -> str:
    """PEP 503's normalised name: ``Pillow`` and ``pillow``, ``ffmpeg_python`` and ``ffmpeg-python``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """``torch>=2.9,<2.15`` -> ``torch``."""
    return re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]


def project_dependencies() -> list[str]:
    """IMMU's own runtime requirements, from pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def read_freeze(path: Path) -> list[str]:
    """``name==version`` pins from a ``pip freeze`` file; editables and URLs skipped.

    A local label goes (``torch==2.6.0+cu124`` -> ``torch==2.6.0``): indexes carry the
    release, and ``==2.6.0`` still matches the host's build.
    """
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [
        line.split("+")[0]
        for line in lines
        if "==" in line and not line.startswith("-") and " @ " not in line
    ]


def resolve(
    requirements: list[str], target: list[str], report: Path, constraints: Path | None = None
) -> dict[str, str]:
    """pip's resolver for the host's Python and platform, without installing: name -> version."""
    python_version, platforms = target[0], target[1:]
    with tempfile.TemporaryDirectory(prefix="immu-resolve-") as tmp:
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
            "--only-binary=:all:", "--python-version", python_version,
            *[arg for platform in platforms for arg in ("--platform", platform)],
            *(["--constraint", str(constraints)] if constraints else []),
            "--target", tmp, "--report", str(report), *requirements,
        ]  # fmt: skip
        subprocess.run(command, check=True)
    data = json.loads(report.read_text())
    return {
        canonical(item["metadata"]["name"]): item["metadata"]["version"] for item in data["install"]
    }


def download(pins: list[str], dest: Path, target: list[str]) -> None:
    python_version, platforms = target[0], target[1:]
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--only-binary=:all:", "--python-version", python_version,
        *[arg for platform in platforms for arg in ("--platform", platform)],
        "--dest", str(dest), *pins,
    ]  # fmt: skip
    subprocess.run(command, check=True)


def wheel_name(path: Path) -> str:
    return canonical(path.name.split("-")[0])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dest", type=Path, default=Path("immu-wheels"), help="the folder")
    parser.add_argument("--python-version", default="3.12", help="the host's Python, e.g. 3.12")
    parser.add_argument(
        "--platform",
        action="append",
        help="the host's platform tag(s), repeated (default: manylinux x86_64 up to glibc 2.28)",
    )
    parser.add_argument(
        "--have", nargs="*", default=HOST_HAS, help="what the host has (names or name==version)"
    )
    parser.add_argument("--have-from", type=Path, help="the host's `pip freeze` output")
    parser.add_argument("--max-mb", type=float, default=MAX_MB, help="fail above this size")
    args = parser.parse_args()
    target = [args.python_version, *(args.platform or PLATFORMS)]
    have = list(args.have)
    # the host's exact versions constrain whatever the resolution touches; the rest of
    # its packages (often hundreds, some without wheels) stay out of it
    frozen = read_freeze(args.have_from) if args.have_from else []
    # the host's own packages are what they are: IMMU's ranges for them do not apply
    had = {canonical(requirement_name(r)) for r in have + frozen}
    needs = [
        r for r in project_dependencies() + KIT_NEEDS if canonical(requirement_name(r)) not in had
    ]
    args.dest.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="immu-wheels-") as tmp:
        constraints = Path(tmp, "host-constraints.txt") if frozen else None
        if constraints:
            constraints.write_text("\n".join(frozen) + "\n")
        print(f"resolving what the host has (Python {target[0]}, {', '.join(target[1:])})")
        host = resolve(have, target, Path(tmp, "host.json"), constraints)
        print(f"resolving IMMU and the kit with it: {len(host)} host packages")
        everything = resolve(have + needs, target, Path(tmp, "all.json"), constraints)
    wanted = {
        name: version
        for name, version in everything.items()
        if name not in host and name not in had
    }
    pins = [f"{name}=={version}" for name, version in sorted(wanted.items())]
    print(f"downloading {len(pins)} wheels into {args.dest}")
    download(pins, args.dest, target)

    # a folder reused for another host: drop the wheels this host does not need
    for stale in args.dest.glob("*.whl"):
        if wheel_name(stale) not in wanted:
            stale.unlink()
    (args.dest / "requirements.txt").write_text("\n".join(pins) + "\n")
    wheels = sorted(args.dest.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels) / 2**20
    for wheel in wheels:
        print(f"{wheel.stat().st_size / 2**20:8.2f} MB  {wheel.name}")
    print(f"{total:8.2f} MB  {len(wheels)} wheels in {args.dest} (limit {args.max_mb:.0f} MB)")
    if total > args.max_mb:
        print(f"too large: {total:.1f} MB > {args.max_mb:.0f} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
