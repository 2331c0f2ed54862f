"""The repository runs from any checkout: no Python file of it names an absolute path of
one machine (the shared folder is found relative to the repository: ../shared)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Absolute paths that mean the same on every machine, or that tests use as examples.
# The EcoTaxa API's routes (segmenter/upload, tests/segmenter/upload) are URLs, not files; the
# /opt, /var/lib and /lib/systemd ones are where `segmenter service install` puts things
# on a PlanktoScope (FHS paths, the same on every instrument; tests use a fake --root).
PORTABLE = ("/proc", "/dev", "/etc", "/usr", "/sys", "/nonexistent", "/home/pi", "/data/img",
            "/api/", "/samples/", "/acquisitions/", "/file_import/", "/object_set/",
            "/opt/segmenter", "/var/lib/segmenter", "/lib/systemd")  # fmt: skip
PATH_RE = re.compile(r"/[\w.-]+/[\w.-]+")  # two components at least: /work/shared...


def absolute_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    return [
        t for t in texts if isinstance(t, str) and PATH_RE.match(t) and not t.startswith(PORTABLE)
    ]


def test_no_machine_specific_absolute_paths() -> None:
    found = {
        str(p.relative_to(REPO)): bad
        for folder in ("segmenter", "benchmark", "tests")
        for p in sorted((REPO / folder).rglob("*.py"))
        if (bad := absolute_literals(p))
    }
    assert found == {}
