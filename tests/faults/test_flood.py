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

from tests.service.conftest import CopyAcq
from tests.service.harness import Harness, Recorder
from tests.service.test_service import BAD_COMMANDS, segment

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
