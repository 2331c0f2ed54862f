"""The transport under load: commands are handled off paho's network thread, through a
bounded inbox, and one publisher delivers every QoS 1 message, however many at once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from segmenter.service.inbox import Inbox
from segmenter.service.mqtt import MqttTransport
from tests.service.harness import Broker, Harness, Recorder

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


def test_the_inbox_is_bounded_and_blocks_when_full() -> None:
    inbox: Inbox[bytes] = Inbox(max_items=2, max_bytes=1000)
    assert inbox.put(b"a", 1) and inbox.put(b"b", 1)
    assert not inbox.put(b"c", 1, timeout=0.1)  # full by count
    waiting = threading.Thread(target=inbox.put, args=(b"d", 1))
    waiting.start()
    time.sleep(0.1)
    assert waiting.is_alive()  # a full inbox holds the sender back
    assert inbox.get(1) == b"a"
    waiting.join(5)
    assert not waiting.is_alive()
    assert [inbox.get(1), inbox.get(1)] == [b"b", b"d"]
    assert inbox.get(0.05) is None
    big: Inbox[bytes] = Inbox(max_items=10, max_bytes=1000)
    assert big.put(b"x" * 900, 900)
    assert not big.put(b"y" * 200, 200, timeout=0.1)  # full by size
    assert big.get(1) and big.put(b"y" * 2000, 2000)  # an empty inbox takes anything
    big.close()
    assert not big.put(b"z", 1) and big.get(1) == b"y" * 2000 and big.get(1) is None
