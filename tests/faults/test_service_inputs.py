"""Commands the service must answer however they are malformed or greedy: a `segment`
too large or too deep to parse still ends its unit on status/segmenter, and a worker
count beyond the machine is lowered to what the machine runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from segmenter.engine.pool import WorkerPool
from segmenter.service.status import reserved_words
from segmenter.service.values import max_workers
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import Harness, Recorder
from tests.segmenter.service.test_service import segment

DEPTH = 100_000


def _units_end_with_one_exception(recorder: Recorder, payloads: list[bytes]) -> None:
    for n, payload in enumerate(payloads, 1):
        recorder.send(payload)
        recorder.wait(lambda r, n=n: len(r.on("status/segmenter/reply")) >= n)  # type: ignore[misc]
    recorder.wait(lambda r: len(r.statuses()) >= 1 + len(payloads))
    statuses = [s for s in recorder.statuses() if s != "Ready"]
    assert len(statuses) == len(payloads), statuses
    for status in statuses:
        assert status.startswith("An exception was raised during the segmentation: "), status
        assert reserved_words(status) == ["exception"], status
    assert all(not r["ok"] for r in recorder.on("status/segmenter/reply"))


def test_an_oversized_or_too_deep_segment_ends_its_unit(
    harness: Callable[..., Harness], recorder: Recorder
) -> None:
    """The dashboard waits for one terminal status per `segment`: a payload the parser
    cannot read (too large, nested too deep, cut short) that still says `segment` ends
    its unit with one error, not just a `parse` reply nobody reads."""
    harness()
    filler = "x" * (300 * 1024)
    payloads = [
        json.dumps({"action": "segment", "path": "img", "note": filler}).encode(),
        b'{"action": "segment", "path": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
        b'{"action":"segment","id":"cut","path":"img"',
    ]
    _units_end_with_one_exception(recorder, payloads)
    assert recorder.on("status/segmenter/reply")[2]["id"] == "cut"


def _alive(pid: int) -> bool:
    """Is process `pid` running (a zombie or a gone one is not)?"""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_a_worker_count_beyond_the_machine_is_lowered_and_does_not_outlive_its_item(
    harness: Callable[..., Harness], copy_acq: CopyAcq, recorder: Recorder
) -> None:
    """Any client could ask for 64 workers (each ~120 MB; their processes were still there
    after `Done`): the count is lowered to the machine's limit, the reply says so, and
    after the item the pool is the service's own again (here: 1, no worker process)."""
    folder = copy_acq(frames=8, seed=6)
    h = harness(delay=0.3)  # the service's own count: 1, in its process
    limit = max_workers()
    recorder.send(segment(folder, "greedy", worker_count=64))
    recorder.wait(lambda r: len(r.on("status/segmenter/reply")) >= 1)
    (reply,) = recorder.on("status/segmenter/reply")
    assert reply["ok"] and f"worker_count: 64 lowered to {limit}" in reply["message"]
    recorder.wait(lambda r: any(s.startswith("Segmenting image") for s in r.statuses()))
    pool = h.engine.pool
    assert isinstance(pool, WorkerPool) and pool.workers == limit
    executor = pool._executor
    pids = list(getattr(executor, "_processes", {}))  # the pool's processes, mid-run
    assert len(pids) == (limit if limit > 1 else 0)
    recorder.wait_status("Done", timeout=60)
    assert recorder.item("greedy")["settings"]["workers"] == limit
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids if _alive(p)] == []
    assert h.engine.pool.workers == 1 and h.engine.pool.mode == "inline"


def test_the_worker_limit_follows_cores_and_memory() -> None:
    assert max_workers(cores=4, memory_mb=8192) == 4  # a Pi 5: the cores bind
    assert max_workers(cores=4, memory_mb=512) == 2  # half of 512 MB holds two workers
    assert max_workers(cores=64, memory_mb=4096) == 17
    assert max_workers(cores=1, memory_mb=128) == 1  # never below one
