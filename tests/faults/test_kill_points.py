"""SIGKILL of the whole segmenter (parent and workers) at 20 points spread over a run:
flat computation, frames, flat recalculation, archive assembly. After each kill no file
is half-written under its final name, and a new run ends with the uninterrupted archive."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from segmenter.ecotaxa import read_tsv
from segmenter.synth import SynthSpec, write_acquisition
from tests.conftest import archive_content

POINTS = 20
PHASES: dict[int, str] = {}  # point -> what was committed when it was killed
SPEC = SynthSpec(frames=12, objects=30, width=1014, height=760, seed=21)
ARGS = ["segment", "--workers", "2", "--remove-previous-mask", "--keep", "--json"]
ENV = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def state_dir(root: Path, folder: Path) -> Path:
    return root / "objects" / folder.relative_to(root / "img") / ".segmenter"


def start(folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "segmenter", *ARGS, str(folder)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )


def wait_for(path: Path, proc: subprocess.Popen[bytes]) -> float:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.002)
    return time.monotonic()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    """(source acquisition, its uninterrupted archive, seconds from run.json to done.txt)."""
    root = tmp_path_factory.mktemp("clean")
    folder = write_acquisition(root, SPEC)
    source = tmp_path_factory.mktemp("source") / "data"
    shutil.copytree(root, source)  # before the run: the inputs only
    proc = start(folder)
    began = wait_for(state_dir(root, folder) / "run.json", proc)
    assert proc.wait(120) == 0
    work = (folder / "done.txt").stat().st_mtime - time.time() + time.monotonic() - began
    archive = next((root / "export" / "ecotaxa").glob("*.zip"))
    lines = [json.loads(p.read_text()) for p in (state_dir(root, folder) / "frames").iterdir()]
    assert len({line["flat_id"] for line in lines}) >= 2, "no flat recalculation: points too few"
    return source, archive, max(work, 0.2)


def assert_nothing_half_written(root: Path) -> None:
    """Every file under its final name is whole: JSONL lines parse, crops decode, the TSV
    reads and the zip's members check out."""
    for path in root.rglob("*"):
        if not path.is_file() or path.name.endswith(".tmp") or path.name.startswith("."):
            continue
        if path.suffix == ".jsonl":
            json.loads(path.read_text())
        elif path.suffix == ".jpg" and "objects" in path.parts:
            data = np.frombuffer(path.read_bytes(), np.uint8)
            assert cv2.imdecode(data, cv2.IMREAD_COLOR) is not None, path
        elif path.suffix == ".tsv":
            read_tsv(path)
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                assert zf.testzip() is None, path


@pytest.mark.parametrize("point", range(POINTS))
def test_sigkill_at_point_then_resume(
    clean: tuple[Path, Path, float], tmp_path: Path, point: int
) -> None:
    source, clean_archive, work = clean
    root = tmp_path / "data"
    shutil.copytree(source, root)
    folder = next(p.parent for p in (root / "img").rglob("metadata.json"))
    proc = start(folder)
    began = wait_for(state_dir(root, folder) / "run.json", proc)
    # points from the start of the flat computation to just past the archive (1.1 x work)
    time.sleep(max(0.0, began + work * 1.1 * point / (POINTS - 1) - time.monotonic()))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = len(list((state_dir(root, folder) / "frames").glob("*.jsonl")))
    PHASES[point] = "finished" if (folder / "done.txt").exists() else f"{committed} frames"
    assert_nothing_half_written(root)
    resumed = subprocess.run(
        [sys.executable, "-m", "segmenter", *ARGS, str(folder)], env=ENV, capture_output=True
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    (acq,) = json.loads(resumed.stdout)["acquisitions"]
    assert acq["status"] in ("done", "skipped")
    archive = root / "export" / "ecotaxa" / clean_archive.name
    assert archive_content(archive) == archive_content(clean_archive)
    assert not list(root.rglob("*.tmp"))


def test_the_points_covered_the_whole_run() -> None:
    """The kills landed before any frame, between frames and after the last frame."""
    if len(PHASES) < POINTS:
        pytest.skip("run with the whole module")
    seen = set(PHASES.values())
    assert "0 frames" in seen, PHASES
    assert len(seen - {"0 frames", "finished", f"{SPEC.frames} frames"}) >= 3, PHASES
    assert {"finished", f"{SPEC.frames} frames"} & seen, PHASES
