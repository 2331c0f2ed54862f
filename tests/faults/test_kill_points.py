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
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from segmenter.synth import SynthSpec, write_acquisition
from streamer.ecotaxa import read_tsv
from tests.conftest import archive_content

POINTS = 20
PHASES: dict[int, str] = {}  # point -> what was committed when it was killed
SPEC = SynthSpec(frames=12, objects=6, width=1014, height=760, seed=21, bursts=(4,), burst=40)
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


def frames_committed(root: Path, folder: Path) -> int:
    return len(list((state_dir(root, folder) / "frames").glob("*.jsonl")))


@dataclass(frozen=True)
class Timeline:
    """Seconds after run.json appeared: first frame committed, last one, done.txt."""

    first: float
    last: float
    done: float


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Timeline]:
    """(source acquisition, its uninterrupted archive, the run's timeline)."""
    root = tmp_path_factory.mktemp("clean")
    folder = write_acquisition(root, SPEC)
    source = tmp_path_factory.mktemp("source") / "data"
    shutil.copytree(root, source)  # before the run: the inputs only
    proc = start(folder)
    began = wait_for(state_dir(root, folder) / "run.json", proc)
    marks: dict[str, float] = {}
    while "done" not in marks:
        n, now = frames_committed(root, folder), time.monotonic() - began
        if n >= 1:
            marks.setdefault("first", now)
        if n >= SPEC.frames:
            marks.setdefault("last", now)
        if (folder / "done.txt").exists():
            marks["done"] = now
        assert proc.poll() in (None, 0) and now < 120
        time.sleep(0.002)
    assert proc.wait(60) == 0
    archive = next((root / "export" / "ecotaxa").glob("*.zip"))
    lines = [json.loads(p.read_text()) for p in (state_dir(root, folder) / "frames").iterdir()]
    assert len({line["flat_from"] for line in lines}) >= 2, "no flat recalculation: points too few"
    return source, archive, Timeline(marks["first"], marks["last"], marks["done"])


def kill_moment(point: int, timeline: Timeline) -> tuple[int, float]:
    """(frames to wait for, then seconds to wait) for a point: 6 points from the start to
    the first frame (flat computation, recalculation), one after each of frames 1..11, and
    3 once every frame is committed (archive assembly)."""
    if point < 6:
        return 0, timeline.first * (point + 0.5) / 6
    if point < 17:
        return point - 5, 0.0
    return SPEC.frames, (timeline.done - timeline.last) * (point - 17) / 3


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
    clean: tuple[Path, Path, Timeline], tmp_path: Path, point: int
) -> None:
    source, clean_archive, timeline = clean
    root = tmp_path / "data"
    shutil.copytree(source, root)
    folder = next(p.parent for p in (root / "img").rglob("metadata.json"))
    frames, delay = kill_moment(point, timeline)
    proc = start(folder)
    wait_for(state_dir(root, folder) / "run.json", proc)
    while frames and frames_committed(root, folder) < frames and proc.poll() is None:
        time.sleep(0.001)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = frames_committed(root, folder)
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
    assert len(seen - {"0 frames", "finished", f"{SPEC.frames} frames"}) >= 6, PHASES
    assert {"finished", f"{SPEC.frames} frames"} & seen, PHASES
