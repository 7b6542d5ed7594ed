"""The house rules of docs/ARCHITECTURE.md: which package may import which, no circle,
no private name taken across modules, the Telegram plumbing apart from the domain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import ROOT

# immu/ is the top (the command); nothing below it may import it; and what ships imports
# neither tests/ (the fakes included) nor bench/
FORBIDDEN = {
    "pipeline": {"bot", "storage", "immu", "tests", "bench"},
    "storage": {"bot", "pipeline", "immu", "tests", "bench"},
    "bot": {"immu", "tests", "bench"},
    "immu": {"tests", "bench"},
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


PACKAGES = ("bot", "pipeline", "storage", "immu")
# bot's domain: what bot/telegram/ (how IMMU speaks Telegram) must never import
DOMAIN = {
    "account", "admission", "feed", "housekeeping", "intake", "jobs", "likes", "moderation",
    "posting", "publisher", "remixes", "review", "handlers",
}  # fmt: skip


def _module(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """Every import in a file, lazy and TYPE_CHECKING ones too: (module, names)."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _files(root: Path) -> list[Path]:
    return [
        p
        for package in PACKAGES
        if (root / package).is_dir()
        for p in (root / package).rglob("*.py")
    ]


def circles(root: Path) -> list[str]:
    """Import circles among our modules (``from bot import keyboards`` names a module)."""
    files = {_module(p, root): p for p in _files(root)}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for module, names in _imports(path):
            for target in [module, *(f"{module}.{n}" for n in names)]:
                if target in files and target != name:
                    graph[name].add(target)
    found: list[str] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append(" -> ".join([*path[path.index(node) :], node]))
            return
        if node in done:
            return
        for target in sorted(graph[node]):
            visit(target, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return found


def private_imports(root: Path) -> list[str]:
    """``from ours import _private``: what another module needs must be public."""
    found = []
    for path in _files(root):
        for module, names in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if module.split(".")[0] in PACKAGES and private:
                found.append(f"{path.relative_to(root)} takes {private} from {module}")
    return found


def domain_imports_below(root: Path) -> list[str]:
    """bot/telegram/ importing one of bot's domain modules."""
    found = []
    for path in (root / "bot" / "telegram").rglob("*.py"):
        for module, names in _imports(path):
            for target in [module, *(f"{module}.{n}" for n in names)]:
                parts = target.split(".")
                if parts[0] == "bot" and len(parts) > 1 and parts[1] in DOMAIN:
                    found.append(f"{path.relative_to(root)} imports {target}")
    return found


def test_no_import_circle_anywhere() -> None:
    assert circles(ROOT) == []


def test_no_private_name_is_taken_across_modules() -> None:
    assert private_imports(ROOT) == []


def test_the_telegram_plumbing_knows_nothing_of_the_domain() -> None:
    assert (ROOT / "bot" / "telegram" / "chat.py").exists()  # the family is where it says
    assert domain_imports_below(ROOT) == []


def test_the_layout_rules_catch_what_they_promise(tmp_path: Path) -> None:
    """Each rule finds its fault in a small tree written for it: a circle through a
    TYPE_CHECKING import, a private name, and the Telegram family importing the domain."""
    files = {
        "bot/__init__.py": "",
        "bot/posting.py": "from bot.review import Review\n",
        "bot/review.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot import posting\n",
        "bot/jobs.py": "from bot.telegram.chat import _secret\n",
        "bot/telegram/__init__.py": "",
        "bot/telegram/chat.py": "import bot.jobs\n_secret = 1\n",
    }
    for name, code in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(code)
    assert "bot.posting -> bot.review -> bot.posting" in circles(tmp_path)
    assert private_imports(tmp_path) == ["bot/jobs.py takes ['_secret'] from bot.telegram.chat"]
    assert domain_imports_below(tmp_path) == ["bot/telegram/chat.py imports bot.jobs"]


def test_helpers_and_benchmarks_need_no_pytest_and_no_conftest_is_imported() -> None:
    """Fixtures live in conftest files, which pytest alone loads; the plain helpers
    (tests/support), the fakes and bench/ import no pytest, and bench/ takes from tests/
    only those, so the benchmarks run after their own install (.ci/run starts each)."""
    for path in [*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]:
        for module, names in _imports(path):
            targets = [module, *(f"{module}.{n}" for n in names)]
            assert not any(t.endswith("conftest") for t in targets), f"{path} imports {module}"
    helpers = [
        *(ROOT / "tests" / "support").rglob("*.py"),
        *(ROOT / "tests" / "fakes").rglob("*.py"),
    ]
    for path in [p for p in helpers if not p.name.startswith("test_")]:
        assert all(m.split(".")[0] != "pytest" for m, _ in _imports(path)), path
    for path in (ROOT / "bench").rglob("*.py"):
        for module, _ in _imports(path):
            parts = module.split(".")
            assert parts[0] != "pytest", path
            assert parts[0] != "tests" or parts[1:2] in (["support"], ["fakes"]), (
                f"{path} imports {module}"
            )
