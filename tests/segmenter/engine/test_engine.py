"""The parallel engine: same archive for any worker count, stop and resume, faults."""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from dataclasses import fields
from pathlib import Path

import pytest

from benchmark import old_method
from segmenter.engine import AcquisitionSummary, Progress, Segmenter
from segmenter.engine import shared_memory as shm
from segmenter.settings import RunSettings
from tests.conftest import CPU_ROUNDED, MakeAcq, archive_content, same_value
from worker.decode import read_frame

# A burst of organisms on frame 6 (more than the running mean + 20) makes the flat
# recalculate before frame 7; remove_previous_mask is on as well.
DENSE = {"frames": 14, "objects": 6, "bursts": (6,), "burst": 40, "width": 800, "height": 600,
         "seed": 11}  # fmt: skip
SETTINGS = RunSettings(min_esd_um=15.0, remove_previous_mask=True, compat="2026-03")


def run(root: Path, folder: Path, settings: RunSettings, workers: int) -> AcquisitionSummary:
    with Segmenter(workers) as seg:
        (summary,) = seg.run([folder], settings, data_root=root)
    return summary


def committed_lines(folder: Path, root: Path) -> list[dict[str, object]]:
    rel = folder.relative_to(root / "img")
    frames = sorted((root / "objects" / rel / ".segmenter" / "frames").glob("*.jsonl"))
    return [json.loads(p.read_text()) for p in frames]


@pytest.fixture(scope="module")
def dense_serial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The serial run every other run is compared with."""
    from segmenter.synth import SynthSpec, write_acquisition

    root = tmp_path_factory.mktemp("serial")
    folder = write_acquisition(root, SynthSpec(**DENSE))  # type: ignore[arg-type]
    summary = run(root, folder, SETTINGS, workers=1)
    assert summary.status == "done" and summary.archive
    return root, folder, Path(summary.archive)


def test_the_order_dependent_features_really_ran(dense_serial: tuple[Path, Path, Path]) -> None:
    root, folder, _ = dense_serial
    flat_ids = {line["flat_from"] for line in committed_lines(folder, root)}
    assert len(flat_ids) >= 2, "the flat recalculation did not fire: the test proves nothing"


@pytest.mark.parametrize("workers", [2, 3])
def test_same_archive_for_any_worker_count(
    dense_serial: tuple[Path, Path, Path], make_acq: MakeAcq, workers: int
) -> None:
    _, _, serial_zip = dense_serial
    root, folder = make_acq(**DENSE)
    summary = run(root, folder, SETTINGS, workers)
    assert summary.status == "done" and summary.archive
    assert archive_content(Path(summary.archive)) == archive_content(serial_zip)


def test_engine_matches_the_old_method(dense_serial: tuple[Path, Path, Path]) -> None:
    """Whole acquisition, recalculation and remove_previous_mask included."""
    _, folder, serial_zip = dense_serial
    frames = sorted(folder.glob("*.jpg"))
    decoded = [(p.stem, read_frame(p)) for p in frames]
    meta = json.loads((folder / "metadata.json").read_text())
    params = SETTINGS.params(meta.get("process_pixel"))
    old = old_method.segment(decoded, params.min_esd_px, remove_previous_mask=True)
    expected = [obj for frame in old for obj in frame]
    rows, _ = archive_content(serial_zip)
    assert [r["object_id"] for r in rows] == [o.object_id for o in expected]
    for row, obj in zip(rows, expected, strict=True):
        for name, value in obj.features.items():
            loose = name in CPU_ROUNDED  # the old method's: skimage's BLAS, LAPACK, libm
            cell = row[f"object_{name}"]
            assert same_value(float(cell or "nan"), float(value), loose), name


def test_stop_at_random_points_then_resume(
    dense_serial: tuple[Path, Path, Path], make_acq: MakeAcq
) -> None:
    _, _, serial_zip = dense_serial
    root, folder = make_acq(**DENSE)
    rng = random.Random(7)
    with Segmenter(2) as seg:
        for _ in range(4):
            stopper = threading.Timer(rng.uniform(0.05, 0.8), seg.stop)
            stopper.start()
            (summary,) = seg.run([folder], SETTINGS, data_root=root)
            stopper.cancel()
            stopper.join()
            if summary.status == "done":
                break
            assert summary.status == "interrupted", summary
            assert not (folder / "done.txt").exists()
            assert not list(root.rglob("*.tmp")), "a half-written file is visible"
            assert not shm.mine()
        else:
            (summary,) = seg.run([folder], SETTINGS, data_root=root)
    assert summary.status == "done" and summary.archive
    assert archive_content(Path(summary.archive)) == archive_content(serial_zip)


def test_stop_wait_returns_when_idle_and_never_raises(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=10)
    with Segmenter(2) as seg:
        assert seg.stop(wait=True, timeout=1)  # idle already: returns at once
        done: list[AcquisitionSummary] = []
        events: list[Progress] = []
        worker = threading.Thread(
            target=lambda: done.extend(
                seg.run([folder], RunSettings(), data_root=root, on_progress=events.append)
            )
        )
        worker.start()
        deadline = time.monotonic() + 60
        while not any(e.phase == "frame" for e in events):
            assert worker.is_alive() and time.monotonic() < deadline, (done, events)
            time.sleep(0.01)
        stoppers = [threading.Thread(target=seg.stop) for _ in range(5)]
        for t in stoppers:
            t.start()
        assert seg.stop(wait=True, timeout=10)
        worker.join(10)
        for t in stoppers:
            t.join(10)
        assert done[0].status == "interrupted"
        (again,) = seg.run([folder], RunSettings(), data_root=root)  # the engine is reusable
        assert again.status == "done"


def test_worker_killed_mid_run_is_survived(
    make_acq: MakeAcq, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, folder = make_acq(frames=8)
    clean_root, clean_folder = make_acq(root=tmp_path / "clean", frames=8)
    clean = run(clean_root, clean_folder, RunSettings(), workers=2)
    victim = sorted(folder.glob("*.jpg"))[4].name
    marker = tmp_path / "killed"
    monkeypatch.setenv("SEGMENTER_TEST_FAULTS", f"kill:{victim}:{marker}")
    with Segmenter(2) as seg:
        (summary,) = seg.run([folder], RunSettings(), data_root=root)
        assert seg.pool.rebuilds == 1
    assert marker.exists(), "the fault was not injected"
    assert summary.status == "done" and summary.failed_frames == []
    assert archive_content(Path(summary.archive or "")) == archive_content(
        Path(clean.archive or "")
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_raising_frame_is_retried_then_recorded_as_failed(
    make_acq: MakeAcq, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    root, folder = make_acq(frames=6)
    victim = sorted(folder.glob("*.jpg"))[2].name
    monkeypatch.setenv("SEGMENTER_TEST_FAULTS", f"raise:{victim}")
    summary = run(root, folder, RunSettings(), workers)
    assert summary.status == "done"
    assert [f["name"] for f in summary.failed_frames] == [victim]
    assert "failed twice" in summary.failed_frames[0]["reason"]
    rows, crops = archive_content(Path(summary.archive or ""))
    assert rows and not any(r["object_id"].startswith(Path(victim).stem) for r in rows)
    assert len(crops) == len(rows)


def test_previous_mask_is_not_carried_into_the_next_acquisition(make_acq: MakeAcq) -> None:
    """The old program kept the previous mask in a module global, so the first frame of a
    second acquisition in one process lost the last mask of the first: a bug not copied.
    B's first frame is A's last frame: carried over, that mask would erase its objects.
    B segmented right after A, in one process, equals B segmented alone."""
    settings = RunSettings(min_esd_um=15.0, remove_previous_mask=True)
    root, a = make_acq(frames=4, seed=31)
    b = a.parent.parent / "S_b" / "A_b"
    shutil.copytree(a, b)
    frames = sorted(b.glob("*.jpg"))
    frames[0].write_bytes(frames[-1].read_bytes())
    meta = json.loads((b / "metadata.json").read_text())
    (b / "metadata.json").write_text(json.dumps({**meta, "acq_id": "A_b", "sample_id": "S_b"}))
    alone_root = root.parent / "alone"
    alone = alone_root / b.relative_to(root)
    shutil.copytree(b, alone)
    with Segmenter(1) as seg:
        first, second = seg.run([a, b], settings, data_root=root)
        (only,) = seg.run([alone], settings, data_root=alone_root)
    assert first.status == second.status == only.status == "done"
    assert second.archive and only.archive
    rows, crops = archive_content(Path(second.archive))
    assert (rows, crops) == archive_content(Path(only.archive))
    assert any(r["object_id"].startswith(frames[0].stem) for r in rows)


def test_the_worker_count_is_handed_over_once_to_the_engine(make_acq: MakeAcq) -> None:
    """RunSettings carried `workers` beside the count the engine was made with, and the
    engine ignored it: Segmenter(1) given RunSettings(workers=2) ran in this process
    (issue 23). The count is the engine's alone (Segmenter, ensure_workers); a run's
    settings carry none that could mislead."""
    assert "workers" not in {f.name for f in fields(RunSettings)}
    with pytest.raises(TypeError):
        RunSettings(workers=2)  # type: ignore[call-arg]
    root, folder = make_acq(frames=3)
    with Segmenter(1) as seg:
        seg.ensure_workers(2)
        (summary,) = seg.run([folder], RunSettings(), data_root=root)
        assert summary.status == "done"
        assert (seg.pool.mode, seg.pool.workers) == ("processes", 2)
