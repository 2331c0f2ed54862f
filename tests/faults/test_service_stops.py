"""Stops at awkward moments: just before the engine begins a run, and a shutdown whose
running item does not stop within the timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from segmenter.service.status import REPLY_TOPIC
from tests.service.conftest import CopyAcq
from tests.service.harness import Harness, Recorder
from tests.service.test_service import segment


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
