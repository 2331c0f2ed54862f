"""`segmenter serve` as a process: broker down at start, SIGTERM mid-job, restart, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from segmenter.engine import shared_memory as shm
from tests.conftest import REPO
from tests.segmenter.service.harness import (
    COUNT_RE,
    Broker,
    NotifyListener,
    Recorder,
    assert_archive_as_uninterrupted,
    check_dashboard,
    iter_frames,
    two_copies,
)

pytestmark = pytest.mark.mqtt
FRAMES, SIZE, SEED = 40, (1352, 1014), 8


def serve(
    broker: Broker, data_root: Path, log: Path, notify: Path | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "segmenter", "-v", "serve"]
    command += ["--broker", broker.address, "--data-root", str(data_root), "--workers", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    if notify is not None:
        env |= {"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "400000"}
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=REPO, stdout=out, stderr=out, env=env)


def assert_resumed_off_the_legacy_stream(rec: Recorder, mark: int, item_id: str) -> None:
    """After a restart the item resumed from its committed frames and ended done, on the
    service's own topics only: its unit of the legacy stream had ended (Interrupted, or
    the broker's Dead) when the service went away, and the dashboard has moved on."""
    after = rec.messages[mark:]
    legacy = [m.data["status"] for m in after if m.topic == "status/segmenter"]
    assert [s for s in legacy if s != "Dead"] == ["Ready"], legacy
    frames = [
        m.data["frame"]
        for m in after
        if m.topic == "status/segmenter/progress"
        and m.data["item"] == item_id
        and m.data["phase"] == "frame"
    ]
    assert frames and frames[0] > 1, "the run started over instead of resuming"


def test_sigterm_mid_job_then_restart_resumes_to_the_same_archive(
    broker: Broker, acq_cache: Callable[..., Path], tmp_path: Path
) -> None:
    source = acq_cache(FRAMES, *SIZE, SEED)
    root, reference_root, rel = two_copies(source, tmp_path)
    folder = root / rel
    log = tmp_path / "serve.log"

    listener = NotifyListener(tmp_path / "notify.sock")  # read as systemd reads it
    second: subprocess.Popen[bytes] | None = None
    broker.stop()  # the broker is down when the service starts: it waits, then connects
    first = serve(broker, root, log, tmp_path / "notify.sock")
    time.sleep(0.5)
    broker.start()
    rec = Recorder(broker)
    try:
        rec.wait(lambda r: bool(r.messages), 20)  # the service connected and subscribed
        rec.send({"action": "segment", "path": [str(folder)], "id": "job"})
        rec.wait(lambda r: any(COUNT_RE.search(s) for s in r.statuses()), 30)
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0, log.read_text()
        rec.wait_status("Dead", timeout=10)
        statuses = rec.statuses()
        assert statuses[-2:] == ["Interrupted", "Dead"]
        check_dashboard([s for s in statuses if s != "Ready"][:-1])
        assert not (folder / "done.txt").exists()
        committed = len(list(iter_frames(root, folder)))
        assert 0 < committed < FRAMES
        saved = json.loads((root / ".segmenter" / "queue.json").read_text())["items"]
        assert [(i["id"], i["state"], i["resume"]) for i in saved] == [("job", "interrupted", True)]
        assert not [n for n in shm.ours() if n.startswith(f"{shm.PREFIX}{first.pid}_")]
        told = listener.received
        assert told[0] == b"READY=1" and {b"STOPPING=1", b"WATCHDOG=1"} <= set(told)

        mark = len(rec.messages)
        second = serve(broker, root, log)
        try:
            rec.wait(lambda r: r.state("job") == "done", timeout=60)
            assert_resumed_off_the_legacy_stream(rec, mark, "job")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, log.read_text()
        rec.wait(lambda r: r.statuses()[-1] == "Dead", 10)
    finally:
        for proc in (first, second):
            if (
                proc is not None and proc.poll() is None
            ):  # a failed assertion must not leave a service behind
                proc.kill()
                proc.wait()
        rec.close()
        listener.close()

    assert_archive_as_uninterrupted(root, reference_root, rel)


def test_serve_says_why_it_cannot_reach_the_broker_and_keeps_trying(
    broker: Broker, tmp_path: Path
) -> None:
    broker.stop()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "segmenter", "serve", "--broker", broker.address]
    command += ["--data-root", str(tmp_path), "--workers", "1"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 15
        while "Connection refused" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(3)  # paho retries after 1 s, 2 s...: the same reason is not repeated
        warnings = [line for line in log.read_text().splitlines() if "refused" in line]
        assert len(warnings) == 1 and warnings[0].startswith("WARNING"), warnings
        assert broker.address in warnings[0]
        broker.start()
        rec = Recorder(broker)
        try:
            rec.wait_status("Ready", timeout=40)  # it kept trying, and serves now
        finally:
            rec.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
