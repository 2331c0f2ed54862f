"""A queue item's frames are previewed too: the companion on status/segmenter/preview
names the acquisition and the frame, and the service's other topics are as before."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from segmenter.service.status import PREVIEW_TOPIC
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import Broker, Harness, Recorder
from tests.segmenter.service.test_preview_live import raw_messages
from worker.preview import MAX_BYTES

pytestmark = pytest.mark.mqtt


def test_a_queue_item_is_previewed_and_the_legacy_stream_is_unchanged(
    broker: Broker,
    harness: Callable[..., Harness],
    copy_acq: CopyAcq,
    recorder: Recorder,
) -> None:
    folder = copy_acq(frames=4, seed=1)
    harness(preview_s=1.0)
    with raw_messages(broker, "preview/segmenter") as images:
        recorder.send({"action": "segment", "path": [str(folder)], "settings": {}})
        recorder.wait_status("Done")
        recorder.wait(lambda r: len(r.on(PREVIEW_TOPIC)) >= 1)
    first = recorder.on(PREVIEW_TOPIC)[0]
    root = folder.parents[3]
    assert first["acquisition"] == str(folder.relative_to(root / "img"))
    assert first["index"] == 0 and first["frame"] == sorted(folder.glob("*.jpg"))[0].name
    assert images and len(images[0][1]) <= MAX_BYTES and images[0][2] is False
    statuses = recorder.statuses()
    assert statuses[:3] == ["Ready", "Started", "Calculating flat"] and statuses[-1] == "Done"
