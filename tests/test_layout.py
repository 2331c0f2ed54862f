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
    for name in ("old_method.py", "old_program.py"):
        assert imported(REPO / "benchmark" / name) & ours == set(), name
    tree = ast.parse((REPO / "benchmark" / "old_program.py").read_text())
    benchmark_imports = {
        (node.module, tuple(a.name for a in node.names))
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("benchmark")
    }
    assert benchmark_imports == {("benchmark", ("old_method",))}


OURS = ("segmenter", "worker", "streamer", "benchmark")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_edges(path: Path, modules: set[str]) -> set[str]:
    """The modules of ours that `path` imports, at module level, in a function or under
    `if TYPE_CHECKING:` (a circle of types is a circle of the design too); a
    package's `__init__` counts only when it is named itself (`from a.b import c` is an
    edge to `a.b.c` when that is a module, else to `a.b`)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            edges |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                edges.add(target if target in modules else base)
    return (edges & modules) - {name}


def import_graph() -> dict[str, set[str]]:
    paths = [p for top in OURS for p in sorted((REPO / top).rglob("*.py"))]
    modules = {module_name(p) for p in paths}
    return {module_name(p): import_edges(p, modules) for p in paths}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle() -> None:
    """No two of our modules import each other, directly or round a longer circle, at
    module level, inside a function or only for the type checker."""
    graph = import_graph()
    assert len(graph) > 100
    assert circles(graph) == []


def test_the_seams_import_nothing_behind_them() -> None:
    """The pool seam and the flat rules know no pool; the summary type and the settings'
    rules import nothing of the controller; only the runner (engine.segmenter) calls
    the report, never the run or the frame loop."""
    graph = import_graph()
    engine = {m for m in graph if m.startswith("segmenter.engine.")}
    assert graph["segmenter.engine.seam"] & engine == set()
    assert graph["segmenter.engine.flat_rules"] & engine == set()
    assert graph["segmenter.summary"] == set()
    assert {m for m in graph["segmenter.rules"] if m.startswith("segmenter")} == {
        "segmenter.errors"
    }
    assert sorted(m for m in engine if "segmenter.report" in graph[m]) == [
        "segmenter.engine.segmenter"
    ]


MAX_LINES = 320  # the guide's "under ~300 lines", with room for a docstring or two


def test_every_module_is_short() -> None:
    """A module over the limit holds more than one role: split it where a seam is (a
    module named for what it does), not by cutting it in half."""
    lengths = {
        str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines())
        for top in OURS
        for p in sorted((REPO / top).rglob("*.py"))
    }
    assert len(lengths) > 100
    assert {path: n for path, n in lengths.items() if n > MAX_LINES} == {}
