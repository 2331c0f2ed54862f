"""`segmenter benchmark live` measures what it says: every replayed frame committed, a
latency per frame, the archive after Done (figures themselves are not judged here)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from benchmark.live import live_run, main
from segmenter.live import replay
from tests.conftest import MakeAcq


def test_a_live_run_reports_every_frame(make_acq: MakeAcq, tmp_path: Path) -> None:
    _, folder = make_acq(frames=12)
    result = live_run(folder, tmp_path / "work", rate=30.0, workers=2, frames=None)
    assert result["status"] == "done" and result["frames"] == 12
    every = result["latency_s"]["all"]
    assert every["max"] is not None and 0 < every["p50"] <= every["max"]
    assert result["latency_s"]["after_flat"]["max"] is not None  # frames 9-11
    assert result["archive_after_done_s"] is not None and result["archive_after_done_s"] >= 0
    assert result["peak_pss_mb"] > 0


def test_the_command_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "live.json"
    argv = ["--frames", "10", "--size", "640x480", "--rates", "40", "--json", str(out)]
    assert main(argv) == 0
    (run,) = json.loads(out.read_text())["live"]
    assert run["frames"] == 10 and run["rate_fps"] == 40


def test_the_run_starts_once_the_imager_has_started(
    make_acq: MakeAcq, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """metadata.json is written in place, as the imager does: a run started when the file
    merely exists read it half written on a loaded machine ('not readable JSON', 0 frames)."""
    _, folder = make_acq(frames=10)
    start_folder = replay._start_folder

    def slow_metadata(plan: replay.ReplayPlan) -> None:
        plan.target.mkdir(parents=True)
        (plan.target / "metadata.json").write_bytes(plan.metadata[:10])  # half written
        time.sleep(0.5)
        shutil.rmtree(plan.target)
        start_folder(plan)

    monkeypatch.setattr(replay, "_start_folder", slow_metadata)
    result = live_run(folder, tmp_path / "work", rate=40.0, workers=1, frames=None)
    assert result["status"] == "done" and result["frames"] == 10
