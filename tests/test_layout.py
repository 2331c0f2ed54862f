"""The folder layout is the design: imports run one way (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

FORBIDDEN = {
    "worker": ("segmenter", "streamer", "benchmark"),
    "streamer": ("segmenter", "benchmark"),
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package: str) -> None:
    modules = sorted((REPO / package).rglob("*.py"))
    assert modules
    wrong = {
        str(m.relative_to(REPO)): sorted(imported(m) & set(FORBIDDEN[package])) for m in modules
    }
    assert {m: w for m, w in wrong.items() if w} == {}


def test_segmenter_imports_benchmark_only_for_its_benchmark_command() -> None:
    users = [
        str(m.relative_to(REPO))
        for m in sorted((REPO / "segmenter").rglob("*.py"))
        if "benchmark" in imported(m)
    ]
    assert users == ["segmenter/cli/__init__.py"]  # inside `segmenter benchmark` only


def test_the_old_method_imports_nothing_of_ours() -> None:
    """The baseline judges the engine: it must not run any of the engine's code."""
    ours = {"segmenter", "worker", "streamer"}
    for name in ("legacy.py", "legacy_process.py"):
        assert imported(REPO / "benchmark" / name) & ours == set(), name
    tree = ast.parse((REPO / "benchmark" / "legacy_process.py").read_text())
    benchmark_imports = {
        (node.module, tuple(a.name for a in node.names))
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("benchmark")
    }
    assert benchmark_imports == {("benchmark", ("legacy",))}
