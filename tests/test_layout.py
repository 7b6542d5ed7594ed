"""The house rules of DESIGN.md: which package may import which."""

from __future__ import annotations

import ast

import pytest

from tests.support.paths import ROOT

# immu/ is the top (the command); nothing below it may import it
FORBIDDEN = {
    "pipeline": {"bot", "storage", "immu"},
    "storage": {"bot", "pipeline", "immu"},
    "bot": {"immu"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_its_callers(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN[package], f"{path} imports {name}"


def test_loading_the_settings_and_the_bot_imports_no_model_library() -> None:
    """``immu backup`` and a bot on Ray never pay for torch; the bot loads it only when the
    in-process composer starts."""
    import subprocess
    import sys

    script = (
        "import sys, bot.settings, bot.app, pipeline; bot.settings.Settings(_env_file=None); "
        "print(sorted(m for m in ('torch', 'transformers', 'diffusers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_no_bot_module_is_a_house_of_its_own() -> None:
    """Each module of bot/ holds one concept, small enough to read in one sitting."""
    for path in (ROOT / "bot").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 300, path.name
