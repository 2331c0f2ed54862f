"""The systemd unit: `systemd-analyze verify` passes, the promised directives are there,
and the sd_notify messages (READY, WATCHDOG) reach a notify socket."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from segmenter.service.broker import BrokerSettings
from segmenter.service.sdnotify import Heartbeat, Watchdog, notify
from tests.conftest import REPO
from tests.segmenter.service.harness import NotifyListener

SYSTEMD = REPO / "systemd"
UNIT, ENV = SYSTEMD / "segmenter.service", SYSTEMD / "segmenter.env"


def directives(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    # verify needs ExecStart to exist: point it at this interpreter, the rest unchanged
    lines = []
    for line in UNIT.read_text().splitlines():
        if line.startswith("ExecStart="):
            line = f"ExecStart={sys.executable} -m segmenter serve"
        elif line.startswith("EnvironmentFile="):
            line = f"EnvironmentFile={ENV}"
        lines.append(line)
    unit = tmp_path / "segmenter.service"
    unit.write_text("\n".join(lines) + "\n")
    run = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "segmenter.service" not in run.stderr, run.stderr  # no warning about our unit


def test_the_unit_has_what_the_issue_asks() -> None:
    d = directives(UNIT.read_text())
    assert "mosquitto.service" in d["Wants"] and "mosquitto.service" in d["After"]
    assert d["Restart"] == "on-failure" and d["EnvironmentFile"]
    assert d["Type"] == "notify" and int(d["WatchdogSec"]) > 0
    assert d["KillMode"] == "mixed"  # SIGTERM to serve only; it stops its workers itself
    stop_timeout = float(d["ExecStart"].split("--stop-timeout")[1].split()[0])
    assert int(d["TimeoutStopSec"]) >= stop_timeout + 5
    assert d["NoNewPrivileges"] == "yes" and d["PrivateTmp"] == "yes"
    assert d["ProtectSystem"] == "strict" and d["ReadWritePaths"] == "/home/pi/data"
    assert d["User"] != "root" and d["CapabilityBoundingSet"] == ""


def test_the_example_environment_file_is_what_serve_reads() -> None:
    env = directives(ENV.read_text())
    assert env["PLANKTOSCOPE_DATA_PATH"] == directives(UNIT.read_text())["ReadWritePaths"]
    assert BrokerSettings.from_env(env) == BrokerSettings("localhost", 1883)


def test_notify_and_watchdog_reach_the_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with NotifyListener(tmp_path / "notify.sock") as listener:
        monkeypatch.setenv("NOTIFY_SOCKET", str(listener.path))
        monkeypatch.setenv("WATCHDOG_USEC", "100000")
        assert notify("READY=1")
        listener.wait_for(b"READY=1")
        healthy = [True]
        periods: list[float] = []

        def check(period: float) -> bool:
            periods.append(period)
            return healthy[0]

        watchdog = Watchdog(check)
        watchdog.start()
        listener.wait_for(b"WATCHDOG=1")
        assert periods[0] == pytest.approx(0.1)
        healthy[0] = False  # no progress: the pings stop, systemd restarts us
        time.sleep(0.12)
        before = listener.received.count(b"WATCHDOG=1")
        time.sleep(0.3)
        watchdog.stop()
        assert listener.received.count(b"WATCHDOG=1") == before


def test_notify_never_blocks_when_nobody_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A notify socket whose queue is full (systemd busy, a test that never reads): each
    notification returns at once, dropped, and the failure is logged once."""
    path = tmp_path / "full.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        sent: list[bool] = []
        thread = threading.Thread(
            target=lambda: sent.extend(notify("WATCHDOG=1") for _ in range(100)), daemon=True
        )
        with caplog.at_level(logging.DEBUG, "segmenter.service.sdnotify"):
            thread.start()
            thread.join(5)
        assert not thread.is_alive(), "notify blocked on a full socket"
        assert sent.count(False) >= 1 and sent[:5] == [True] * 5
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "cannot notify systemd" in warnings[0].getMessage()


def test_heartbeat_names_busy_threads_that_stopped_beating() -> None:
    now = [100.0]
    heart = Heartbeat(lambda: now[0])
    heart.beat("worker")
    heart.beat("commands")
    now[0] += 5
    heart.beat("commands")
    assert heart.silent(3) == ["worker"]
    heart.rest("worker")  # waiting for work is not a hang
    now[0] += 2
    assert heart.silent(3) == []


def test_notify_is_a_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
