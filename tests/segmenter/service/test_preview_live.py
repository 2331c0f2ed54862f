"""The live preview on MQTT while a replayed acquisition is segmented live: the JPEG
retained on preview/segmenter, its JSON companion retained on status/segmenter/preview,
within the size bounds and at most one per interval whatever the frame rate (a real
mosquitto, the service with a real process pool, `segmenter replay` as a person runs it)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from segmenter.service.status import PREVIEW_IMAGE_TOPIC, PREVIEW_TOPIC
from tests.segmenter.service.harness import Broker, Harness, Recorder
from tests.segmenter.service.test_service_live import REL, finished, replay, wait_live
from worker.preview import MAX_BYTES, MAX_WIDTH

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
EVERY = 1.0  # s: the preview interval of these tests (the service's default is 5)


@contextmanager
def raw_messages(broker: Broker, topic: str) -> Iterator[list[tuple[float, bytes, bool]]]:
    """Every payload on `topic` as bytes: (arrival, payload, retained)."""
    got: list[tuple[float, bytes, bool]] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{time.time_ns()}")
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        got.append((time.monotonic(), bytes(msg.payload), bool(msg.retain)))

    client.on_message = on_message
    client.connect("127.0.0.1", broker.port, 10)
    client.loop_start()
    try:
        assert subscribed.wait(10), "could not subscribe"
        yield got
    finally:
        client.disconnect()
        client.loop_stop()


def width_of(jpeg: bytes) -> int:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "the preview is not a JPEG"
    return int(image.shape[1])


@pytest.fixture
def source(acq_cache: Callable[..., Path]) -> Path:
    return acq_cache(24, 1280, 960, 43)  # wider than the preview: it is downscaled


def test_a_live_replay_shows_the_preview_on_mqtt_while_it_runs(
    source: Path,
    data_root: Path,
    broker: Broker,
    harness: Callable[..., Harness],
    recorder: Recorder,
) -> None:
    harness(workers=2, preview_s=EVERY)
    with raw_messages(broker, PREVIEW_IMAGE_TOPIC) as images:
        proc = replay(source, data_root, broker, 4.0)  # 4 frames a second: 4 per interval
        while proc.poll() is None and not images:
            time.sleep(0.05)
        shown_while_imaging = bool(images) and proc.poll() is None
        finished(proc)
        wait_live(recorder, "done", 60)
        time.sleep(0.5)  # the last image's companion
    assert shown_while_imaging, "no preview while the imager was imaging"
    companions = recorder.on(PREVIEW_TOPIC)
    assert len(companions) == len(images) >= 2
    for (_at, jpeg, _retained), info in zip(images, companions, strict=True):
        assert len(jpeg) <= MAX_BYTES and width_of(jpeg) == 1280 // 2 <= MAX_WIDTH
        assert info["image_sha1"] == hashlib.sha1(jpeg).hexdigest()
        assert info["image_bytes"] == len(jpeg)
        assert info["acquisition"] == str(REL)
        assert (info["width"], info["height"]) == (1280, 960)
        assert info["objects"] == len(info["boxes"])
        qc = info["qc"]  # the frame's QC record (worker.qc) beside its boxes
        assert qc["objects"] == info["objects"] and 0 < qc["background"] <= 255
        assert len(qc["focus_grid"]) == 4 and all(len(row) == 4 for row in qc["focus_grid"])
        for x, y, w, h in info["boxes"]:
            assert 0 <= x < x + w <= 1280 and 0 <= y < y + h <= 960
    indexes = [info["index"] for info in companions]
    assert indexes == sorted(set(indexes)) and indexes[0] == 0
    # the rate: one request per interval at most (arrivals may bunch by a frame's time)
    span = images[-1][0] - images[0][0]
    assert len(images) <= span / EVERY + 2, f"{len(images)} previews in {span:.1f} s"
    assert len(images) <= 24 // 2, "most frames were previewed"
    with raw_messages(broker, PREVIEW_IMAGE_TOPIC) as retained:  # a page opened later
        deadline = time.monotonic() + 5
        while not retained and time.monotonic() < deadline:
            time.sleep(0.05)
    assert retained and retained[0][2] and retained[0][1] == images[-1][1]
