"""Print constraints.txt: the versions of the dev environment that CI tested.

    . .venv-dev/bin/activate && python .ci/constraints.py > constraints.txt

``pip freeze``, limited to what ``pip install -e '.[dev]'`` installs (the project's
requirements and theirs, with their extras), without the project itself and without the
CUDA libraries a GPU build of torch brings (a CPU host has none; a GPU host's pip picks
those torch names). torch is pinned without its local label (``+cpu``), so the same line
holds for the CUDA build of that version.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CUDA_EXTRAS = re.compile(r"^(nvidia-|triton$|cuda-)")


def installed_by(project: str, extras: frozenset[str]) -> set[str]:
    """The canonical names of ``project[extras]`` and everything it pulls in, installed."""
    names: set[str] = set()
    todo, done = [(project, extras)], set()
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in done:
            continue
        done.add((canonicalize_name(name), wanted))
        try:
            dist = distribution(name)
        except PackageNotFoundError:  # a requirement of another platform or Python
            continue
        names.add(canonicalize_name(dist.metadata["Name"]))
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in wanted or {""}):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return names


def main() -> int:
    wanted = installed_by("immu", frozenset({"dev"})) - {"immu"}
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    print("# Versions CI tested (.ci/constraints.py wrote this; see there). The README's")
    print("# commands install with `pip install -c constraints.txt`.")
    for line in frozen.splitlines():
        name, _, version = line.partition("==")
        key = canonicalize_name(name)
        if key in wanted and not CUDA_EXTRAS.match(key) and version:
            print(f"{name}=={version.split('+')[0] if key == 'torch' else version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
