"""The watchdog follows progress: a service whose engine stops making progress stops
pinging systemd even though its threads are alive; an idle service keeps pinging."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from segmenter.service.sdnotify import Watchdog
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import COUNT_RE, Harness, NotifyListener, Recorder
from tests.segmenter.service.test_service import segment

pytestmark = pytest.mark.mqtt
PERIOD = 0.4  # seconds: WATCHDOG_USEC=400000, one ping every 0.2 s


def test_no_ping_while_a_frame_hangs(
    harness: Callable[..., Harness],
    copy_acq: CopyAcq,
    recorder: Recorder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = copy_acq(frames=4, seed=2)
    h = harness(delay=2.0)  # each committed frame is followed by 2 s without progress
    with NotifyListener(tmp_path / "notify.sock") as listener:
        monkeypatch.setenv("NOTIFY_SOCKET", str(listener.path))
        monkeypatch.setenv("WATCHDOG_USEC", str(int(PERIOD * 1e6)))
        watchdog = Watchdog(h.service.healthy)
        watchdog.start()
        try:
            listener.wait_for(b"WATCHDOG=1")  # idle: nothing to wait for, pings go on
            assert h.service.healthy(PERIOD)
            recorder.send(segment(folder, "slow"))
            recorder.wait(lambda r: any(COUNT_RE.search(s) for s in r.statuses()))
            time.sleep(PERIOD)  # the frame's silence is now longer than a period
            assert h.service.alive() and not h.service.healthy(PERIOD)
            pings = listener.received.count(b"WATCHDOG=1")
            time.sleep(1.0)
            assert listener.received.count(b"WATCHDOG=1") == pings, "pinged while hung"
            h.engine.delay = 0.0
            recorder.wait_status("Done", timeout=30)
            time.sleep(3 * PERIOD)
            assert h.service.healthy(PERIOD)
            assert listener.received.count(b"WATCHDOG=1") > pings, "no pings once idle"
        finally:
            watchdog.stop()
