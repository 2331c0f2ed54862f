"""`segmenter send`: the command-line client beside the dashboard, and its exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from segmenter.cli.client import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, send
from tests.conftest import REPO
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import COUNT_RE, Broker, Harness, Recorder, check_dashboard

pytestmark = pytest.mark.mqtt
StartHarness = Callable[..., Harness]


def cli_base() -> list[str]:
    return [sys.executable, "-m", "segmenter", "send", "--broker"]


def cli(broker: Broker, *args: str) -> list[str]:
    return [*cli_base(), broker.address, *args]


def test_two_clients_at_once(
    broker: Broker, harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    """The dashboard runs one item; meanwhile the command line queues another."""
    a, b = copy_acq(frames=12, seed=3), copy_acq(frames=6, seed=4)
    harness(delay=0.05)
    recorder.send({"action": "segment", "path": [str(a)], "settings": {"force": False}})
    recorder.wait(lambda r: any(COUNT_RE.search(s) for s in r.statuses()))
    run = subprocess.run(
        cli(broker, "--json", "segment", str(b), "--id", "from-cli", "--min-esd", "25"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == EXIT_OK, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    mine = [m["payload"] for m in lines if m["topic"] == "status/segmenter/progress"]
    assert any(p["item"] == "from-cli" and p["frame"] == 6 for p in mine)
    recorder.wait_status("Done")
    statuses = [s for s in recorder.statuses() if s != "Ready"]
    assert statuses.count("Done") == 1 and statuses[-1] == "Done"
    check_dashboard(statuses)  # the dashboard's unit alone: the CLI's job is not on it
    assert recorder.item("from-cli")["settings"]["min_esd_um"] == 25.0


def _send_in_thread(
    broker: Broker, command: dict[str, object], results: list[int], err: io.StringIO
) -> threading.Thread:
    thread = threading.Thread(
        target=lambda: results.append(send(broker.settings, command, follow=True, err=err, out=err))
    )
    thread.start()
    return thread


def test_exit_codes_done_failed_interrupted_refused(
    broker: Broker, harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder, data_root: Path
) -> None:
    good = copy_acq(frames=20, seed=3)
    bad = data_root / "img" / "2026-03-11" / "S" / "A"
    bad.mkdir(parents=True)
    (bad / "metadata.json").write_text("{broken")
    (bad / "frame.jpg").write_bytes(b"")
    h = harness(delay=0.05)

    err = io.StringIO()
    assert send(broker.settings, {"action": "segment", "path": str(bad)}, follow=True, err=err) == (
        EXIT_FAILED
    )
    assert "failed" in err.getvalue()
    recorder.wait(lambda r: r.statuses()[-1].startswith("An exception was raised"))
    assert "metadata.json" in recorder.statuses()[-1]

    results: list[int] = []
    thread = _send_in_thread(broker, {"action": "segment", "path": str(good)}, results, err)
    recorder.wait(lambda r: any(COUNT_RE.search(s) for s in r.statuses()))
    recorder.send({"action": "stop"})
    thread.join(20)
    assert results == [EXIT_INTERRUPTED]

    h.engine.delay = 0.0
    thread = _send_in_thread(broker, {"action": "segment", "path": str(good)}, results, err)
    thread.join(30)
    assert results == [EXIT_INTERRUPTED, EXIT_OK]

    missing = {"action": "segment", "path": str(data_root / "img" / "nope")}
    assert send(broker.settings, missing, follow=True, err=err) == EXIT_REFUSED
    assert "does not exist" in err.getvalue()


def test_send_queue_and_status(broker: Broker, harness: StartHarness) -> None:
    harness()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        cli(broker, "--json", "status"), cwd=REPO, capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    state = json.loads(run.stdout)
    assert state["status/segmenter/queue"]["items"] == []
    assert state["status/segmenter/progress"]["state"] == "idle"
    run = subprocess.run(cli(broker, "queue"), cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("queue: running nothing")


def test_send_without_a_broker_fails_at_once(tmp_path: Path) -> None:
    """Nothing listens on the port: `send` says so at once, not after its timeout."""
    from tests.segmenter.service.harness import free_port

    started = time.monotonic()
    run = subprocess.run(
        [*cli_base(), f"127.0.0.1:{free_port()}", "--timeout", "20", "stop"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1  # failed (2 is bad usage, or a command the service refused)
    assert "cannot reach the MQTT broker" in run.stderr
    assert "connection refused" in run.stderr.lower(), run.stderr
    assert time.monotonic() - started < 5
