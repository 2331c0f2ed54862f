"""On a loaded machine a timing measures the other processes: the run-queue wait says so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from benchmark.report import table
from benchmark.runqueue import busy_lack, spent, threads
from benchmark.targets import targets

BUSY = "import os; os.sched_setaffinity(0, {%d}); print(flush=True); [0 for _ in iter(int, 1)]"


def test_threads_that_share_one_core_wait_on_its_run_queue() -> None:
    cpu = min(os.sched_getaffinity(0))
    run = subprocess.Popen([sys.executable, "-c", BUSY % cpu], stdout=subprocess.DEVNULL)
    # another process busy on the same core
    other = subprocess.Popen([sys.executable, "-c", BUSY % cpu], stdout=subprocess.PIPE)
    try:
        assert other.stdout is not None and other.stdout.readline() == b"\n"
        time.sleep(0.5)  # both running
        before = threads(run.pid)
        time.sleep(1.0)
        used = spent(before, threads(run.pid))
        assert used.cpu > 0.1 and used.wait > 0.5 * used.cpu  # half the core each at best
        row = {"cpu_per_frame_s": used.cpu, "run_queue_wait_per_frame_s": used.wait}
        assert busy_lack([row])[0].startswith("a free CPU (run-queue wait ")
        assert busy_lack([{**row, "run_queue_wait_per_frame_s": 0.01 * used.cpu}]) == []
    finally:
        for p in (other, run):
            p.kill()
            p.wait()


def _report(wait_per_frame_s: float) -> dict[str, Any]:
    rows = [
        {"workers": n, "mode": "inline" if n == 1 else "processes", "frames": 400,
         "objects": 2400, "wall_s": 400 / fps, "frames_per_s": fps, "objects_per_s": 6 * fps,
         "speedup": fps / 3.0, "cpu_per_frame_s": 0.3,
         "run_queue_wait_per_frame_s": wait_per_frame_s}
        for n, fps in ((1, 3.0), (2, 4.5))
    ]  # fmt: skip
    dataset = {"name": "6 obj/frame", "width": 4056, "height": 3040}
    dataset["objects_per_frame_target"] = 6.0
    return {
        "settings": {"size": [4056, 3040], "acquisition": None, "quick": False, "input": "x"},
        "machine": {
            "cpu_model": "x",
            "cores": 2,
            "memory_bytes": 2**30,
            "python": "3",
            "opencv": "4",
            "load_average": [0.1, 0.1, 0.1],
        },
        "datasets": [{"dataset": dataset, "throughput": {"rows": rows}}],
    }


@pytest.mark.parametrize("wait", [0.01, 0.2])
def test_scaling_measured_while_the_run_waited_is_not_comparable(wait: float) -> None:
    report = _report(wait)
    (scaling,) = [t for t in targets(report) if t["name"] == "two_workers_speedup"]
    assert scaling["value"] == pytest.approx(1.5) and scaling["met"] is False
    busy = wait > 0.25 * 0.3
    assert scaling["comparable"] is not busy
    printed = table({**report, "targets": [scaling]}, with_targets=True)
    assert ("run-queue wait 200 ms/frame" in printed) is busy
    (line,) = [line for line in printed.splitlines() if "two_workers_speedup" in line]
    assert line.split()[0] == ("n/c" if busy else "MISSED")
    assert "run-queue wait" in table(report)  # beside the throughput rows
