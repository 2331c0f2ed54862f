"""QC warnings over MQTT (issue 28): each once on status/segmenter/warning as it begins to
hold, the acquisition's list on the retained progress, the figures in the summary; the
legacy status/segmenter stream unchanged."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import Harness, Recorder
from worker.decode import read_frame

pytestmark = pytest.mark.mqtt
WARNING = "status/segmenter/warning"
PROGRESS = "status/segmenter/progress"
SUMMARY = "status/segmenter/summary"


def test_a_brightness_step_is_said_once_with_its_frame(
    harness: Callable[..., Harness], copy_acq: CopyAcq, recorder: Recorder
) -> None:
    folder = copy_acq(frames=12, seed=4)
    frames = sorted(folder.glob("*.jpg"))
    for path in frames[6:]:  # the lamp brightens from frame 6 on
        frame = read_frame(path)
        data = cv2.imencode(".jpg", cv2.add(frame, np.full_like(frame, 25)))[1]
        path.write_bytes(data.tobytes())
    harness(workers=2)
    recorder.send({"action": "segment", "path": [str(folder)], "settings": {}})
    recorder.wait(lambda r: len(r.on(SUMMARY)) == 1, timeout=60)
    (warning,) = recorder.on(WARNING)
    assert (warning["kind"], warning["frame"], warning["name"]) == ("drift", 6, frames[6].name)
    assert warning["acquisition"] == str(folder.relative_to(folder.parents[3] / "img"))
    running = [m for m in recorder.on(PROGRESS) if m["state"] == "running"]
    said = [m["warnings"] for m in running if m["phase"] == "frame"]
    assert said[5] == [] and [w["frame"] for w in said[-1]] == [6]
    (summary,) = recorder.on(SUMMARY)
    assert [w["kind"] for w in summary["qc"]["warnings"]] == ["drift"]
    assert all("arning" not in s for s in recorder.statuses())  # the legacy stream as it was
