"""The systemd unit: `systemd-analyze verify` passes, the promised directives are there,
and the sd_notify messages (READY, WATCHDOG) reach a notify socket."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segmenter.service.mqtt import BrokerSettings
from segmenter.service.sdnotify import Watchdog, notify

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
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
            line = f"ExecStart={sys.executable} -m segmenter.cli_service serve"
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
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "100000")
        assert notify("READY=1")
        assert sock.recv(100) == b"READY=1"
        healthy = [True]
        watchdog = Watchdog(lambda: healthy[0])
        watchdog.start()
        assert sock.recv(100) == b"WATCHDOG=1"
        healthy[0] = False  # a dead worker thread: the pings stop, systemd restarts us
        time.sleep(0.2)
        sock.settimeout(0.3)
        drained = []
        try:
            while True:
                drained.append(sock.recv(100))
        except TimeoutError:
            pass
        watchdog.stop()
        assert len(drained) <= 2


def test_notify_is_a_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
