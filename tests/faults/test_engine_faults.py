"""Engine faults, each reproduced first (issue "One terminal status per command, nothing
lost"): worker deaths charge only the frame that kills, the flat field survives a worker
death, file names that are not UTF-8, an odd-sized first frame, most frames failing,
storage errors, two runs on one acquisition, a killed parent's workers, leftover
semaphores, and PATHs that are a data root or lie under several."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from segmenter.engine import AcquisitionSummary, Segmenter
from segmenter.engine import shared_memory as shm
from segmenter.settings import RunSettings
from tests.conftest import REPO, MakeAcq, archive_content

CLI = [sys.executable, "-m", "segmenter"]
ENV = os.environ | {"PYTHONPATH": str(REPO)}


def run(root: Path, folder: Path, workers: int = 2, **settings: object) -> AcquisitionSummary:
    with Segmenter(workers) as seg:
        (summary,) = seg.run([folder], RunSettings(**settings), data_root=root)  # type: ignore[arg-type]
    return summary


def frames(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def same_archive(a: AcquisitionSummary, b: AcquisitionSummary) -> bool:
    return archive_content(Path(a.archive or "")) == archive_content(Path(b.archive or ""))


# -- worker deaths --------------------------------------------------------------------


def test_two_worker_deaths_charge_no_innocent_frame(
    make_acq: MakeAcq, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deaths in a row (an OOM kill on a 4 GB Pi): the frames that were in flight did
    nothing wrong and must not end 'failed twice'."""
    root, folder = make_acq(frames=10)
    clean_root, clean_folder = make_acq(root=tmp_path / "clean", frames=10)
    clean = run(clean_root, clean_folder)
    names = [p.name for p in frames(folder)]
    faults = f"kill:{names[1]}:{tmp_path / 'm1'};kill:{names[2]}:{tmp_path / 'm2'}"
    monkeypatch.setenv("SEGMENTER_TEST_FAULTS", faults)
    summary = run(root, folder)
    assert (tmp_path / "m1").exists() and (tmp_path / "m2").exists()
    assert summary.status == "done" and summary.failed_frames == []
    assert same_archive(summary, clean)


def test_a_frame_that_always_kills_its_worker_is_the_only_one_failed(
    make_acq: MakeAcq, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, folder = make_acq(frames=10)
    victim = frames(folder)[3].name
    monkeypatch.setenv("SEGMENTER_TEST_FAULTS", f"killalways:{victim}")
    summary = run(root, folder)
    assert summary.status == "done"
    assert [f["name"] for f in summary.failed_frames] == [victim]
    assert "worker process died" in summary.failed_frames[0]["reason"]


@pytest.mark.parametrize("stage", ["decode", "median"])
def test_a_worker_death_during_the_flat_field_is_survived(
    make_acq: MakeAcq, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    root, folder = make_acq(frames=10)
    clean_root, clean_folder = make_acq(root=tmp_path / "clean", frames=10)
    clean = run(clean_root, clean_folder)
    victim = frames(folder)[2].name  # in the flat-field window: killed while decoding it
    fault = f"killflat:{victim}" if stage == "decode" else "killmedian:median"
    monkeypatch.setenv("SEGMENTER_TEST_FAULTS", f"{fault}:{tmp_path / 'm'}")
    summary = run(root, folder)
    assert (tmp_path / "m").exists(), "the fault was not injected"
    assert summary.status == "done" and summary.failed_frames == []
    assert same_archive(summary, clean)


# -- inputs ---------------------------------------------------------------------------


def test_a_frame_name_that_is_not_utf8_does_not_crash(make_acq: MakeAcq) -> None:
    """cv2.imread segfaults on such a name: in one process the whole run died."""
    _root, folder = make_acq(frames=6)
    bad = os.fsencode(folder) + b"/2026-03-10_10-00-02-5\xff\xfe.jpg"
    os.rename(os.fsencode(frames(folder)[2]), bad)
    proc = subprocess.run(
        [*CLI, "segment", str(folder), "--workers", "1", "--json"],
        env=ENV,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    (acq,) = json.loads(proc.stdout)["acquisitions"]
    assert acq["status"] == "done" and len(acq["failed_frames"]) == 1
    assert "UTF-8" in acq["failed_frames"][0]["reason"]


def test_the_frame_size_is_the_one_most_frames_have(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=12)
    first = frames(folder)[0]
    small = cv2.resize(np.asarray(cv2.imread(str(first))), (320, 240))
    cv2.imwrite(str(first), small)
    summary = run(root, folder)
    assert summary.status == "done"
    assert [f["name"] for f in summary.failed_frames] == [first.name]
    assert summary.objects > 0


def test_most_frames_failed_fails_the_acquisition(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=8)
    for path in frames(folder)[3:8]:
        path.write_bytes(path.read_bytes()[:2000])  # truncated: 5 of 8 fail
    summary = run(root, folder)
    assert summary.status == "failed"
    assert "5 of 8 frames failed" in (summary.message or "")
    assert not (folder / "done.txt").exists()
    assert not list((root / "export").rglob("*.zip"))
    for path, good in zip(frames(folder)[3:8], frames(folder)[:5], strict=True):
        path.write_bytes(good.read_bytes())  # fixed: a new run retries them
    again = run(root, folder)
    assert again.status == "done" and again.failed_frames == []


def test_a_stray_jsonl_file_in_the_journal_is_ignored(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=4)
    first = run(root, folder)
    journal = root / "objects" / folder.relative_to(root / "img") / ".segmenter" / "frames"
    (journal / "notes.jsonl").write_text("{}\n")
    again = run(root, folder, force=False)
    assert again.status == "skipped"
    (folder / "done.txt").unlink()
    resumed = run(root, folder)
    assert resumed.status == "done" and same_archive(resumed, first)


# -- one process per acquisition --------------------------------------------------------


def test_a_second_run_on_the_same_acquisition_says_who_holds_it(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=30, width=1352, height=1014)
    first = subprocess.Popen(
        [*CLI, "segment", str(folder), "--workers", "1"],
        env=ENV,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        journal = root / "objects" / folder.relative_to(root / "img") / ".segmenter" / "frames"
        deadline = time.monotonic() + 60
        while not list(journal.glob("*.jsonl")):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        second = run(root, folder, workers=1)
        assert second.status == "failed"
        assert f"process {first.pid}" in (second.message or "")
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        first.wait(30)


# -- storage errors -----------------------------------------------------------------------


def test_force_on_a_read_only_data_root_is_one_line_and_json(
    make_acq: MakeAcq, tmp_path: Path
) -> None:
    where = tmp_path / "ro"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        root, a = make_acq(root=where / "data", frames=3, seed=1)
        _, b = make_acq(root=where / "data", frames=3, seed=2)
        assert run(root, a).status == run(root, b).status == "done"
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        proc = subprocess.run(
            [*CLI, "segment", str(root / "img"), "--force", "--json"],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1
        summary = json.loads(proc.stdout)
        assert [s["status"] for s in summary["acquisitions"]] == ["failed", "failed"]
        for s in summary["acquisitions"]:
            assert "Read-only file system" in s["message"] and str(root) in s["message"]
        assert "Traceback" not in proc.stderr and "[Errno" not in proc.stderr
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


# -- a killed parent ------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    """Every descendant of `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_exit_soon_after_their_parent_is_killed(make_acq: MakeAcq) -> None:
    """kill -9 of the CLI alone: the forkserver, workers and resource tracker go too."""
    root, folder = make_acq(frames=40, width=1352, height=1014)
    proc = subprocess.Popen(
        [*CLI, "segment", str(folder), "--workers", "2"], env=ENV, stderr=subprocess.DEVNULL
    )
    journal = root / "objects" / folder.relative_to(root / "img") / ".segmenter" / "frames"
    deadline = time.monotonic() + 60
    while not list(journal.glob("*.jsonl")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    family = _children(proc.pid)
    assert len(family) >= 3  # forkserver, 2 workers (and the resource tracker)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 2.5
    while any(_alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in family if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "processes outlived their parent by more than 2 s"


def test_semaphores_of_a_killed_run_are_swept_at_the_next_start(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=80, width=1352, height=1014)
    journal = root / "objects" / folder.relative_to(root / "img") / ".segmenter" / "frames"
    before = set(shm.orphan_semaphores())
    for _ in range(3):  # a loaded machine may let the run end before the kill
        proc = subprocess.Popen(
            [*CLI, "segment", str(folder), "--workers", "2", "--force"],
            env=ENV,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not list(journal.glob("*.jsonl")) and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the resource tracker too
        if proc.wait() == -signal.SIGKILL:
            break
        shutil.rmtree(journal)  # it finished: try again from the start
    else:
        pytest.fail("the run ended before it was killed, 3 times")
    deadline = time.monotonic() + 5  # killed processes unmap as they exit, not at once
    while not (left := set(shm.orphan_semaphores()) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left, "the kill left no semaphore: the test proves nothing"
    shm.sweep_stale()
    assert not set(shm.orphan_semaphores()) & left


# -- where the data root is -------------------------------------------------------------------


def test_the_data_root_itself_and_paths_under_two_roots(make_acq: MakeAcq, tmp_path: Path) -> None:
    one, a = make_acq(root=tmp_path / "one", frames=3, seed=1)
    two, b = make_acq(root=tmp_path / "two", frames=3, seed=2)
    env = {k: v for k, v in ENV.items() if k != "PLANKTOSCOPE_DATA_PATH"}
    proc = subprocess.run(
        [*CLI, "segment", str(one), str(b), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    statuses = {s["path"]: s["status"] for s in json.loads(proc.stdout)["acquisitions"]}
    assert statuses == {str(a): "done", str(b): "done"}
    assert list((one / "export").rglob("*.zip")) and list((two / "export").rglob("*.zip"))
