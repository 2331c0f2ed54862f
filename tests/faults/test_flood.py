"""1,000 commands in one burst while a job runs on a real 2-worker process pool: every one
is answered or refused with a reply (none dropped, nothing logged as lost), the job goes
on, the queue stays bounded and a stop after the burst still works."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable

import pytest

from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import Harness, Recorder
from tests.segmenter.service.test_service import BAD_COMMANDS, segment

# they hold the service to answer in time: run alone, not beside the parallel run (scripts/test.sh)
pytestmark = pytest.mark.alone

BURST = 1000
QUEUED = 40  # valid segment commands among them (the rest are malformed or refused)


def test_a_burst_of_1000_commands_is_all_answered(
    harness: Callable[..., Harness],
    copy_acq: CopyAcq,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = copy_acq(frames=40, seed=3)  # long enough to outlast the burst
    queued = copy_acq(frames=2, seed=4)
    caplog.set_level(logging.WARNING, "segmenter.service.mqtt")
    caplog.set_level(logging.WARNING, "segmenter.service.outbox")
    h = harness(delay=0.1, workers=2)
    recorder.send(segment(running, "job"))
    recorder.wait(lambda r: any(s.startswith("Segmenting image") for s in r.statuses()))
    bad = itertools.cycle(BAD_COMMANDS)
    payloads = [
        json.dumps(segment(queued, f"q{n}")).encode() if n % (BURST // QUEUED) == 0 else next(bad)
        for n in range(BURST)
    ]
    infos = [recorder.client.publish("segmenter/segment", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(30)
    recorder.wait(lambda r: len(r.on("status/segmenter/reply")) >= BURST + 1, timeout=120)
    replies = recorder.on("status/segmenter/reply")
    assert len(replies) == BURST + 1  # one per command, the first segment included
    ok = [r for r in replies if r["ok"]]
    assert len(ok) == QUEUED + 1
    assert all(r["message"] for r in replies)
    assert len(h.service.queue.snapshot_items()) <= QUEUED + 1
    started = time.monotonic()
    recorder.send({"action": "stop", "scope": "all", "id": "halt"})
    recorder.wait_status("Interrupted", timeout=30)
    assert time.monotonic() - started < 30
    assert recorder.item("job")["state"] == "interrupted"
    lost = [r.getMessage() for r in caplog.records if "publish" in r.getMessage()]
    assert lost == [], f"{len(lost)} messages not published, e.g. {lost[:1]}"


BIG_BURST = 2000
SEND_TIMEOUT = 10.0  # seconds: `segmenter send` gives up on a reply after this


def test_a_burst_of_2000_enqueues_keeps_the_service_alive(
    harness: Callable[..., Harness], copy_acq: CopyAcq, recorder: Recorder
) -> None:
    """The queue paused, 2,000 `enqueue` at once: the broker never takes the service for
    dead (a short keepalive: 4.5 s without a packet is `Dead`), no reply comes twice and
    each command is answered within the send client's timeout (1,000 queued, the rest
    refused as the queue is full)."""
    folder = copy_acq(frames=2, seed=4)
    harness(keepalive=3)
    recorder.send({"action": "stop", "scope": "queue", "id": "pause"})
    recorder.wait(lambda r: len(r.on("status/segmenter/reply")) >= 1)
    sent: dict[str, float] = {}
    infos = []
    for n in range(BIG_BURST):
        command = {"action": "enqueue", "path": [str(folder)], "id": f"b{n}"}
        sent[f"b{n}"] = time.monotonic()
        infos.append(recorder.client.publish("segmenter/segment", json.dumps(command), qos=1))
    recorder.wait(lambda r: len(r.on("status/segmenter/reply")) >= BIG_BURST + 1, timeout=90)
    time.sleep(0.5)  # a duplicate would come right behind
    with recorder._cond:
        replies = [m for m in recorder.messages if m.topic == "status/segmenter/reply"]
    ids = [m.data["id"] for m in replies[1:]]
    assert len(ids) == len(set(ids)) == BIG_BURST, "a reply came twice, or one is missing"
    late = {m.data["id"]: round(m.at - sent[m.data["id"]], 1) for m in replies[1:]}
    slowest = max(late.values())
    assert slowest < SEND_TIMEOUT, f"the slowest answer took {slowest} s"
    assert sum(m.data["ok"] for m in replies[1:]) == 1000  # the queue's bound
    assert "Dead" not in recorder.statuses()


def test_a_full_inbox_does_not_stop_the_keepalives(
    harness: Callable[..., Harness], recorder: Recorder
) -> None:
    """The command thread held up (its lock taken) while 1,500 commands arrive, past the
    inbox's 1,000: the network thread goes on (no `Dead`, which a blocked one gets), the
    broker keeps what the service cannot take yet, and all are answered once, after."""
    h = harness(keepalive=2)
    count = 1500
    with h.service.lock:
        for n in range(count):
            payload = json.dumps({"action": "resume", "id": f"r{n}"})
            recorder.client.publish("segmenter/segment", payload, qos=1)
        time.sleep(9)  # a silent client is declared dead by now (seen after 6 s)
        assert "Dead" not in recorder.statuses()
        assert len(h.service.inbox._items) < count  # the broker keeps the rest
    recorder.wait(lambda r: len(r.on("status/segmenter/reply")) >= count, timeout=60)
    ids = [m["id"] for m in recorder.on("status/segmenter/reply")]
    assert sorted(ids) == sorted(f"r{n}" for n in range(count))
    assert "Dead" not in recorder.statuses()
