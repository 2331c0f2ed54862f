"""The transport under load: commands are handled off paho's network thread, through an
inbox that never holds that thread back, and one publisher delivers every QoS 1 message,
however many at once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from segmenter.service.inbox import Inbox
from segmenter.service.mqtt import MqttTransport
from tests.segmenter.service.harness import Broker, Harness, Recorder

pytestmark = pytest.mark.mqtt
BURST = 5000


def test_a_burst_of_qos1_publishes_is_all_delivered(
    broker: Broker, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """paho keeps at most so many QoS 1 messages waiting for their acknowledgement; the
    transport used to drop the rest ("Message queue full")."""
    transport = MqttTransport(broker.settings, f"burst-{time.time_ns()}", will=False)
    transport.start()
    try:
        assert transport.subscribed.wait(10)
        with caplog.at_level(logging.WARNING, "segmenter.service"):
            for n in range(BURST):
                transport.publish("status/segmenter/reply", b'{"n": %d}' % n, qos=1)
            recorder.wait(lambda r: len(r.on("status/segmenter/reply")) >= BURST, 20)
        assert [m["n"] for m in recorder.on("status/segmenter/reply")] == list(range(BURST))
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        transport.close(dead=False)


def test_commands_wait_in_the_inbox_not_on_the_network_thread(
    harness: Callable[..., Harness], recorder: Recorder
) -> None:
    """While the service is busy (here: its lock is held), the network thread keeps
    receiving and publishing; the command is handled once the service is free."""
    h = harness()
    with h.service.lock:
        recorder.send({"action": "resume", "id": "waiting"})
        time.sleep(0.3)  # the command has reached the service, which cannot act yet
        h.transport.publish("status/segmenter/probe", b'{"probe": 1}', qos=1)
        recorder.wait(lambda r: r.on("status/segmenter/probe") == [{"probe": 1}], 5)
        assert not [x for x in recorder.on("status/segmenter/reply") if x["id"] == "waiting"]
    recorder.wait(lambda r: any(x["id"] == "waiting" for x in r.on("status/segmenter/reply")))


def test_the_inbox_never_blocks_and_says_when_it_is_full() -> None:
    inbox: Inbox[bytes] = Inbox(max_items=2, max_bytes=1000)
    rooms: list[bool] = []
    inbox.on_room = lambda: rooms.append(True)
    assert inbox.put(b"a", 1) and inbox.has_room()
    assert inbox.put(b"b", 1) and not inbox.has_room()  # full by count
    assert inbox.put(b"c", 1)  # never waits: the transport holds the broker back instead
    assert not inbox.overflowing()
    assert inbox.get(1) == b"a" and rooms == []  # still full
    assert inbox.get(1) == b"b" and rooms == [True]  # room again: the acks may go
    assert inbox.get(1) == b"c" and inbox.get(0.05) is None
    big: Inbox[bytes] = Inbox(max_items=10, max_bytes=1000)
    assert big.put(b"x" * 900, 900) and not big.has_room(200)  # full by size
    for _ in range(4):
        big.put(b"x" * 900, 900)
    assert big.overflowing()  # past 4x the bound: the transport drops QoS 0 messages
    big.close()
    assert not big.put(b"z", 1) and big.get(1) == b"x" * 900
