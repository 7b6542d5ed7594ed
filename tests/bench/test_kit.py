"""bench/kit.py's command line and wheel folder, without running the suite (that is a benchmark)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bench.kit import PARTS, parse_args, unpack_wheels
from tests.support.paths import ROOT


def test_help_names_every_part_and_the_budget() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "kit.py"), "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for word in (*PARTS, "--budget-s", "--wheels", "--tiny", "--out"):
        assert word in result.stdout


def test_the_gpu_run_measures_the_real_settings(tmp_path: Path) -> None:
    args = parse_args(["--out", str(tmp_path)])
    assert args.device == "cuda" and args.budget_s == 480
    assert (args.steps, args.dpm_steps, args.naive_steps) == (50, 25, 50)
    assert (args.griffin_lim_iters, args.musicgen_tokens, args.runs) == (32, 256, 3)
    assert args.warmup and args.compile_backend == "inductor"
    assert (args.jobs, args.batch_jobs) == (8, 3)
    assert args.parts == list(PARTS)


def test_the_cpu_check_is_small_and_explicit_values_win(tmp_path: Path) -> None:
    tiny = parse_args(["--out", str(tmp_path), "--device", "cpu", "--tiny"])
    assert (tiny.steps, tiny.griffin_lim_iters, tiny.runs) == (2, 1, 1)
    assert not tiny.warmup and tiny.compile_backend == "eager"
    assert tiny.jobs == 8  # the batching figure is always K=8
    given = parse_args(["--out", str(tmp_path), "--tiny", "--runs", "2", "--warmup"])
    assert given.runs == 2 and given.warmup


@pytest.mark.parametrize(
    "argv",
    [
        ["--device", "cpu"],
        ["--out", "x", "--parts", "everything"],
        ["--out", "x", "--device", "tpu"],
    ],
)
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2


def test_wheels_unpack_importable_with_their_executables(tmp_path: Path) -> None:
    wheel = tmp_path / "demo_tool-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo_tool/__init__.py", "ANSWER = 42\n")
        binary = zipfile.ZipInfo("demo_tool/bin/tool")
        binary.external_attr = 0o100755 << 16
        archive.writestr(binary, "#!/bin/sh\necho tool ran\n")
    site = unpack_wheels(tmp_path)
    assert (site / "demo_tool" / "__init__.py").read_text() == "ANSWER = 42\n"
    ran = subprocess.run([str(site / "demo_tool" / "bin" / "tool")], capture_output=True, text=True)
    assert ran.stdout == "tool ran\n"
    (site / "demo_tool" / "__init__.py").write_text("edited")
    assert unpack_wheels(tmp_path) == site  # the same wheels: unpacked once, not again
    assert (site / "demo_tool" / "__init__.py").read_text() == "edited"


def test_no_wheels_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no wheels in"):
        unpack_wheels(tmp_path)
