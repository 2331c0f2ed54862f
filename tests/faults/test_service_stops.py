"""Stops at awkward moments: just before the engine begins a run, and a shutdown whose
running item does not stop within the timeout."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from segmenter.service.queue import JobQueue
from segmenter.service.status import REPLY_TOPIC
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import Harness, Recorder
from tests.segmenter.service.test_service import segment


def test_a_stop_just_before_the_engine_begins_is_not_lost(
    harness: Callable[..., Harness], copy_acq: CopyAcq, recorder: Recorder
) -> None:
    """The runner has marked the item as in the engine, `Segmenter.run` has not begun:
    the stop must still end the run (it used to be cleared when the run began)."""
    folder = copy_acq(frames=6, seed=2)
    h = harness()
    h.engine.gate = threading.Event()
    recorder.send(segment(folder, "raced"))
    assert h.engine.entered.wait(10)
    recorder.send({"action": "stop", "id": "halt"})
    recorder.wait(lambda r: any(x["id"] == "halt" for x in r.on(REPLY_TOPIC)))
    h.engine.gate.set()
    recorder.wait(lambda r: r.item("raced")["state"] != "running", timeout=30)
    time.sleep(0.3)
    assert recorder.item("raced")["state"] == "interrupted"
    assert not (folder / "done.txt").exists()
    assert "Done" not in recorder.statuses()


def test_a_shutdown_that_times_out_leaves_the_item_resumable(
    harness: Callable[..., Harness], copy_acq: CopyAcq, recorder: Recorder, data_root: Path
) -> None:
    """The running item does not stop within the stop timeout (a frame that takes longer):
    `serve` closes the pool under it, the engine fails on the closed pool, and that must
    not mark the item failed: it resumes at the next start."""
    folder = copy_acq(frames=6, seed=2)
    h = harness(delay=3.0, workers=2)
    h.engine.use_pool_after_delay = True
    recorder.send(segment(folder, "long"))
    recorder.wait(lambda r: any(s.startswith("Segmenting image") for s in r.statuses()))
    assert not h.service.shutdown(timeout=0.3)
    h.engine.close()  # what `serve` does next: its pool goes, the item is still running
    h.service.join(30)
    items = json.loads((data_root / ".segmenter" / "queue.json").read_text())["items"]
    assert [(i["id"], i["state"], i["resume"]) for i in items] in (
        [("long", "running", False)],
        [("long", "interrupted", True)],
    )
    resumed = JobQueue(data_root).load()
    assert [i.id for i in resumed] == ["long"]
    assert not (folder / "done.txt").exists()
