"""The report's figures over MQTT: retained on status/segmenter/summary once an
acquisition is archived, what summary_<acq_id>.json holds; nothing new on the legacy
status/segmenter."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from streamer import contract
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import Broker, Harness, Recorder, check_dashboard

pytestmark = pytest.mark.mqtt
TOPIC = "status/segmenter/summary"


def test_summary_published_retained_on_the_services_topic(
    broker: Broker,
    harness: Callable[..., Harness],
    copy_acq: CopyAcq,
    recorder: Recorder,
) -> None:
    first, second = copy_acq(frames=4, seed=1), copy_acq(frames=3, seed=2)
    harness()
    for folder in (first, second):
        recorder.send({"action": "segment", "path": [str(folder)], "settings": {}})
    recorder.wait(lambda r: len(r.on(TOPIC)) == 2)
    recorder.wait_status("Done", count=2)
    root = first.parents[3]
    summaries = recorder.on(TOPIC)
    for folder, message in zip((first, second), summaries, strict=True):
        meta = json.loads((folder / "metadata.json").read_text())
        name = f"summary_{contract.combined_id(meta['sample_id'], meta['acq_id'])}.json"
        written = json.loads((root / "export" / "ecotaxa" / name).read_text())
        assert message == {
            "item": message["item"],
            "acquisition": str(folder.relative_to(root / "img")),
            **written,
        }
        assert message["objects"] > 0 and message["objects_per_ml"] > 0
    statuses = recorder.statuses()
    assert statuses.count("Done") == 2
    legacy = [m.data for m in recorder.messages if m.topic == "status/segmenter"]
    assert all(set(data) == {"status"} for data in legacy)  # no figures on the legacy topic
    check_dashboard(statuses[statuses.index("Started") : statuses.index("Done") + 1])

    late = Recorder(broker)  # a client that comes later gets the last one, retained
    try:
        late.wait(lambda r: any(m.topic == TOPIC for m in r.messages))
        (kept,) = [m for m in late.messages if m.topic == TOPIC]
        assert kept.retained and kept.data == summaries[-1]
        assert all(
            set(m.data) == {"status"} for m in late.messages if m.topic == "status/segmenter"
        )
    finally:
        late.close()
