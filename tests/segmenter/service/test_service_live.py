"""`segmenter serve` follows the imager: acquisitions replayed by `segmenter replay` (the
imager's files and messages, a real mosquitto) are segmented while they are imaged, to
the archive a batch run of the same folder gives; restarts, a silent imager, a stop of
live work, live off, and a batch item that gives way."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from segmenter.engine import Segmenter
from segmenter.settings import RunSettings
from tests.conftest import REPO, archive_content
from tests.segmenter.service.harness import Broker, Harness, Recorder, check_dashboard

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
LIVE = "status/segmenter/live"
PROGRESS = "status/segmenter/progress"
REL = Path("2026-06-01/S_live/A_live")


def replay(
    src: Path, root: Path, broker: Broker, rate: float, *extra: str
) -> subprocess.Popen[bytes]:
    """The project's replay tool, as a person would run it beside the service."""
    command = [sys.executable, "-m", "segmenter", "replay", str(src), str(root)]
    command += ["--as", str(REL), "--rate", str(rate), "--broker", broker.address, *extra]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finished(proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    _out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()


def live_states(recorder: Recorder) -> list[dict[str, Any]]:
    return [m.data for m in recorder.messages if m.topic == LIVE]


def wait_live(recorder: Recorder, state: str, timeout: float = 60) -> dict[str, Any]:
    recorder.wait(lambda r: any(m["state"] == state for m in live_states(r)), timeout)
    return next(m for m in live_states(recorder) if m["state"] == state)


def batch_archive(folder: Path, tmp_path: Path, frames: int | None = None) -> Path:
    """The batch run's archive of the same frames (a copy of the folder)."""
    other = tmp_path / "batch"
    target = other / "img" / REL
    names = sorted(folder.glob("*.jpg"))[:frames]
    target.mkdir(parents=True)
    shutil.copy(folder / "metadata.json", target)
    for path in names:
        shutil.copy(path, target)
    with Segmenter(2) as seg:
        (summary,) = seg.run([target], RunSettings(), data_root=other)
    assert summary.status == "done" and summary.archive
    return Path(summary.archive)


@pytest.fixture
def source(acq_cache: Callable[..., Path]) -> Path:
    return acq_cache(20, 640, 480, 41)


def test_a_replay_at_one_frame_per_second_is_segmented_live(
    source: Path,
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    harness(workers=2)
    proc = replay(source, data_root, broker, 1.0)
    folder = data_root / "img" / REL
    crops = data_root / "objects" / REL
    crops_while_imaging = 0
    while proc.poll() is None:
        crops_while_imaging = len(list(crops.glob("*.jpg"))) if crops.is_dir() else 0
        time.sleep(0.2)
    finished(proc)
    assert crops_while_imaging > 0, "no crop was on disk while the imager was imaging"
    done = wait_live(recorder, "done", 60)
    assert done["seen"] == done["segmented"] == done["announced"] == 20
    assert done["reason"] in (
        "the imager said Done",
        "all 20 frames announced are in",
    )
    assert (folder / "done.txt").exists()
    states = [m["state"] for m in live_states(recorder)]
    assert states[0] == "waiting" and "keeping up" in states
    assert archive_content(data_root / done["archive"]) == archive_content(
        batch_archive(folder, tmp_path)
    )
    assert recorder.statuses() == ["Ready"], "live work on the dashboard's status topic"
    assert not recorder.on("status/segmenter/metric")


def test_a_restart_mid_acquisition_resumes_from_the_journal(
    source: Path,
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    first = harness(workers=2)
    proc = replay(source, data_root, broker, 4.0)
    recorder.wait(lambda r: any(m["segmented"] >= 3 for m in live_states(r)), 60)
    first.close()  # SIGTERM-like: the live acquisition stays followed
    stopped_at = max(m["segmented"] for m in live_states(recorder))
    harness(workers=2)
    finished(proc)
    done = wait_live(recorder, "done", 60)
    assert done["segmented"] == 20 and stopped_at < 20
    folder = data_root / "img" / REL
    assert archive_content(data_root / done["archive"]) == archive_content(
        batch_archive(folder, tmp_path)
    )


def test_an_imager_gone_silent_is_finished_at_the_idle_timeout(
    source: Path,
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    harness(workers=2, idle_timeout=1.5)
    finished(replay(source, data_root, broker, 20.0, "--stop-after", "12", "--end", "silent"))
    done = wait_live(recorder, "done", 60)
    assert done["segmented"] == 12 and "no new frame for 1.5 s" in done["reason"]
    folder = data_root / "img" / REL
    assert archive_content(data_root / done["archive"]) == archive_content(
        batch_archive(folder, tmp_path, 12)
    )


def test_an_interrupted_imager_ends_the_live_acquisition(
    source: Path,
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
) -> None:
    harness(workers=2)
    finished(replay(source, data_root, broker, 20.0, "--stop-after", "10", "--qos", "1"))
    done = wait_live(recorder, "done", 60)
    assert done["segmented"] == 10 and done["reason"] == "the imager was interrupted"


def test_a_stop_of_live_work_keeps_what_was_committed(
    source: Path,
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
) -> None:
    harness(workers=2)
    proc = replay(source, data_root, broker, 4.0)
    recorder.wait(lambda r: any(m["segmented"] >= 2 for m in live_states(r)), 60)
    recorder.send({"action": "stop", "scope": "live", "id": "s1"})
    stopped = wait_live(recorder, "stopped", 30)
    finished(proc)
    replies = recorder.on("status/segmenter/reply")
    assert any(r["id"] == "s1" and "stopping live" in r["message"] for r in replies)
    folder = data_root / "img" / REL
    assert not (folder / "done.txt").exists()
    time.sleep(1)  # the imager's later frames are not followed again
    assert live_states(recorder)[-1]["state"] == "stopped"
    committed = list((data_root / "objects" / REL / ".segmenter" / "frames").glob("*.jsonl"))
    assert len(committed) >= stopped["segmented"] >= 2


def test_live_off_follows_nothing(
    source: Path,
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
) -> None:
    harness()
    recorder.send({"action": "update_config", "config": {"live": False}, "id": "c1"})
    recorder.wait(lambda r: any(m["id"] == "c1" for m in r.on("status/segmenter/reply")))
    finished(replay(source, data_root, broker, 50.0, "--frames", "4", "--qos", "1"))
    time.sleep(1.5)
    assert not live_states(recorder)
    assert not (data_root / "objects" / REL).exists()


def test_a_batch_item_gives_way_to_live_frames_and_ends_once(
    source: Path,
    acq_cache: Callable[..., Path],
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    """The dashboard's item is running when the imager starts: it gives way, the live
    acquisition runs, then the item resumes; the dashboard sees one Started, one Done."""
    batch_src = acq_cache(20, 640, 480, 42)
    batch = data_root / batch_src.relative_to(batch_src.parents[3])
    shutil.copytree(batch_src, batch)
    h = harness(workers=2, delay=0.3)  # 6 s or more: the imager starts meanwhile
    recorder.send({"action": "segment", "path": str(batch), "id": "dash"})
    recorder.wait(
        lambda r: any(p["item"] == "dash" and p["frame"] >= 2 for p in r.on(PROGRESS)), 60
    )
    finished(replay(source, data_root, broker, 20.0, "--qos", "1"))
    done = wait_live(recorder, "done", 90)
    recorder.wait(lambda r: r.state("dash") == "done", 90)
    recorder.wait_status("Done")
    statuses = recorder.statuses()[1:]  # after Ready
    check_dashboard(statuses)
    assert statuses.count("Started") == 1 and statuses[-1] == "Done"
    queue_states = [
        item["state"]
        for m in recorder.messages
        if m.topic == "status/segmenter/queue"
        for item in m.data["items"]
        if item["id"] == "dash"
    ]
    assert "pending" in queue_states[queue_states.index("running") :], "it never gave way"
    assert done["segmented"] == 20 and h.engine.pool.rebuilds == 0
    assert archive_content(data_root / done["archive"]) == archive_content(
        batch_archive(data_root / "img" / REL, tmp_path)
    )


def test_update_config_applies_from_the_next_acquisition(
    source: Path,
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    harness(workers=2)
    proc = replay(source, data_root, broker, 6.0)
    wait_live(recorder, "waiting", 30)
    recorder.send({"action": "update_config", "config": {"process_min_ESD": 60}, "id": "c2"})
    recorder.wait(lambda r: any(m["id"] == "c2" for m in r.on("status/segmenter/reply")))
    finished(proc)
    done = wait_live(recorder, "done", 60)
    folder = data_root / "img" / REL
    assert archive_content(data_root / done["archive"]) == archive_content(
        batch_archive(folder, tmp_path)  # the defaults the acquisition began with
    )
    recorder.send({"action": "segment", "path": str(folder), "id": "next"})
    recorder.wait(lambda r: r.state("next") == "done", 60)
    assert recorder.item("next")["settings"]["min_esd_um"] == 60
