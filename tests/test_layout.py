"""The house rules of DESIGN.md: which package may import which."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

FORBIDDEN = {"pipeline": {"bot", "storage", "immu"}, "storage": {"bot", "pipeline", "immu"}}


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
