"""A live replay shows the QC warnings on MQTT while it runs (issue 28): the lamp
brightens mid-acquisition; the warning comes once on status/segmenter/warning, naming the
frame where it began, before the acquisition is done, and stays on the retained live
status."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.segmenter.service.harness import Broker, Harness, Recorder
from tests.segmenter.service.test_service_live import (
    LIVE,
    REL,
    finished,
    live_states,
    replay,
    wait_live,
)
from worker.decode import read_frame

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
WARNING = "status/segmenter/warning"


def test_a_brightness_step_is_said_while_the_replay_runs(
    acq_cache: Callable[..., Path],
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    source = tmp_path / "bright" / "A_bright"
    shutil.copytree(acq_cache(14, 640, 480, 43), source)
    frames = sorted(source.glob("*.jpg"))
    for path in frames[6:]:
        frame = read_frame(path)
        path.write_bytes(cv2.imencode(".jpg", cv2.add(frame, np.full_like(frame, 25)))[1].tobytes())
    harness(workers=2)
    proc = replay(source, data_root, broker, 4.0)
    recorder.wait(lambda r: bool(r.on(WARNING)), 60)
    running = [m for m in live_states(recorder) if m["state"] not in ("done", "failed")]
    finished(proc)
    done = wait_live(recorder, "done", 60)
    (warning,) = recorder.on(WARNING)
    assert (warning["kind"], warning["frame"], warning["name"]) == ("drift", 6, frames[6].name)
    assert warning["acquisition"] == str(REL)
    assert running and [w["frame"] for w in done["warnings"]] == [6]
    said = [m for m in recorder.messages if m.topic == LIVE and m.data["warnings"]]
    assert said and said[0].data["state"] != "done", "the warning came after the acquisition"
