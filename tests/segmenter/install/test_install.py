"""`segmenter service install|status|upgrade|uninstall` against a fake root: the files
written, `systemd-analyze verify` of our unit, and the systemctl calls, in order. The
systemctl and the python3 that makes the venv are stand-ins (tests/segmenter/install/fakes.py): a
script that logs its arguments and keeps the units' states; everything else is real."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from segmenter.install.cli import main
from segmenter.install.host import Host, InstallError
from segmenter.install.layout import Layout
from tests.conftest import REPO
from tests.segmenter.install.fakes import FakeHost

OLD = "planktoscope-org.segmenter.service"
OURS = "segmenter.service"
# The directives of fairscope/PlanktoScope segmenter/planktoscope-org.segmenter.service
OLD_UNIT = """\
[Unit]
Description=Run the PlanktoScope segmenter
Wants=mosquitto.service
After=mosquitto.service
After=nodered.service

[Service]
Type=simple
Environment=HOME=/home/pi
Environment=PLANKTOSCOPE_DATA_PATH=/home/pi/data
WorkingDirectory=/home/pi/PlanktoScope/segmenter
ExecStart=/usr/local/bin/uv run main.py
User=pi
Group=pi

[Install]
WantedBy=multi-user.target
"""
INSTALLED = [f"stop {OLD}", f"disable {OLD}", "daemon-reload", f"enable {OURS}", f"start {OURS}"]


def fake_host(tmp_path: Path, old: tuple[str, str] = ("enabled", "active")) -> FakeHost:
    host = FakeHost.make(tmp_path, {OLD: old})
    unit = host.root / "etc/systemd/system" / OLD
    unit.parent.mkdir(parents=True)
    unit.write_text(OLD_UNIT)
    return host


def run(host: FakeHost, action: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> str:
    args = host.install_args(REPO) if action in ("install", "upgrade") else host.args()
    code = main([action, *args, *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def directives(path: Path) -> dict[str, str]:
    lines = [ln for ln in path.read_text().splitlines() if "=" in ln and ln[0] not in "#;["]
    return {k: v for k, _, v in (ln.partition("=") for ln in lines)}


def test_install_replaces_the_old_unit_with_its_data_root_and_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = fake_host(tmp_path)
    drop_in = host.root / "etc/systemd/system" / (OLD + ".d") / "broker.conf"
    drop_in.parent.mkdir()
    drop_in.write_text('[Service]\nEnvironment="MQTT_HOSTNAME=broker.local"\n')
    out = run(host, "install", capsys=capsys)
    assert host.calls() == INSTALLED
    assert host.state(OLD) == ("disabled", "inactive") and host.state(OURS) == ("enabled", "active")
    assert f"the old segmenter ({OLD.removesuffix('.service')}) is stopped and disabled" in out
    assert "segmenter service status" in out and "journalctl -u segmenter" in out
    venv = host.root / "opt/segmenter/venv"
    assert host.pythons()[0] == f"-m venv {venv}"
    assert host.pythons()[1].startswith("-m pip install --upgrade /")
    assert len(host.pythons()) == 2
    unit = directives(host.root / "etc/systemd/system" / OURS)
    assert unit["ExecStart"] == "/opt/segmenter/venv/bin/segmenter serve --stop-timeout 25"
    assert unit["ReadWritePaths"] == "/home/pi/data" and unit["User"] == "pi"
    assert unit["EnvironmentFile"] == "/etc/segmenter/segmenter.env"
    settings = host.root / "etc/segmenter/segmenter.env"
    env = directives(settings)
    assert env["PLANKTOSCOPE_DATA_PATH"] == "/home/pi/data"
    assert env["MQTT_HOSTNAME"] == "broker.local"  # the old unit's, from its drop-in
    assert stat.S_IMODE(settings.stat().st_mode) == 0o640
    assert os.readlink(host.root / "usr/local/bin/segmenter") == "/opt/segmenter/venv/bin/segmenter"
    assert (host.root / "home/pi/data").is_dir()
    assert (host.root / "etc/systemd/system" / OLD).read_text() == OLD_UNIT  # never edited


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_written_unit_passes_systemd_analyze_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = fake_host(tmp_path)
    run(host, "install", capsys=capsys)
    # verify checks that ExecStart exists on this machine: the fake root's paths, the
    # rest of the written unit unchanged (--root=DIR would need a whole systemd tree)
    text = (host.root / "etc/systemd/system" / OURS).read_text()
    for path in ("/opt/segmenter/venv/bin/segmenter", "/etc/segmenter/segmenter.env"):
        text = text.replace(f"={path}", f"={host.root}{path}")
    unit = tmp_path / OURS
    unit.write_text(text)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    assert OURS not in verify.stderr, verify.stderr


def test_install_again_changes_nothing_and_keeps_the_recorded_old_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = fake_host(tmp_path)
    run(host, "install", capsys=capsys)
    unit = host.root / "etc/systemd/system" / OURS
    mtime = unit.stat().st_mtime_ns
    host.clear_log()
    out = run(host, "install", capsys=capsys)
    assert host.calls() == [] and host.pythons() == []
    assert unit.stat().st_mtime_ns == mtime and "is up to date" in out
    assert f"the old segmenter {OLD.removesuffix('.service')}: enabled, active" in out
    run(host, "uninstall", capsys=capsys)  # restores what the first install found
    assert host.state(OLD) == ("enabled", "active")


def test_without_the_old_unit_ours_is_installed_and_uninstall_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = FakeHost.make(tmp_path, {})
    out = run(host, "install", capsys=capsys)
    assert host.calls() == ["daemon-reload", f"enable {OURS}", f"start {OURS}"]
    assert "not-found" in out and "data root /home/pi/data" in out
    run(host, "uninstall", capsys=capsys)
    assert host.calls()[-3:] == [f"stop {OURS}", f"disable {OURS}", "daemon-reload"]
    left = sorted(str(p.relative_to(host.root)) for p in host.root.rglob("*") if p.is_file())
    assert left == ["etc/segmenter/segmenter.env"]  # the settings, kept


def test_dry_run_prints_every_step_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = fake_host(tmp_path)
    before = sorted(p.relative_to(host.root) for p in host.root.rglob("*"))
    out = run(host, "install", "--dry-run", capsys=capsys)
    assert sorted(p.relative_to(host.root) for p in host.root.rglob("*")) == before
    assert host.calls() == [] and host.pythons() == []
    for step in ["$ systemctl " + c for c in INSTALLED] + [
        "would create the venv",
        f"would install {REPO} into the venv",
        "would link /usr/local/bin/segmenter",
        "would write /etc/systemd/system/segmenter.service",
        "would write /etc/segmenter/segmenter.env (mode 0640, group pi)",
    ]:
        assert step in out, step
    assert "nothing was changed" in out


@pytest.mark.parametrize("old", [("enabled", "active"), ("disabled", "inactive")])
def test_uninstall_restores_the_old_unit_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: tuple[str, str]
) -> None:
    host = fake_host(tmp_path, old)
    run(host, "install", capsys=capsys)
    host.clear_log()
    out = run(host, "uninstall", capsys=capsys)
    restore = [f"enable {OLD}", f"start {OLD}"] if old[0] == "enabled" else []
    assert host.calls() == [f"stop {OURS}", f"disable {OURS}", "daemon-reload", *restore]
    assert host.state(OLD) == old
    assert not (host.root / "etc/systemd/system" / OURS).exists()
    assert not (host.root / "usr/local/bin/segmenter").is_symlink()
    assert not (host.root / "opt/segmenter/venv").exists()
    assert (host.root / "etc/segmenter/segmenter.env").exists() and "--purge" in out
    assert (host.root / "etc/systemd/system" / OLD).read_text() == OLD_UNIT
    host.clear_log()
    assert "nothing to do" in run(host, "uninstall", capsys=capsys)
    assert host.calls() == []


def test_upgrade_keeps_the_queue_journals_and_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = fake_host(tmp_path)
    run(host, "install", capsys=capsys)
    settings = host.root / "etc/segmenter/segmenter.env"
    settings.write_text(settings.read_text() + "SEGMENTER_WORKERS=2\n")
    data = host.root / "home/pi/data"
    kept = {
        data / ".segmenter/queue.json": b'{"items": [{"id": "a"}]}',
        data / "objects/2026-03-10/S_1/A_1/frames/0001.jsonl": b'{"object_id": "x"}\n',
    }
    for path, content in kept.items():
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
    before = settings.read_bytes()
    host.clear_log()
    out = run(host, "upgrade", capsys=capsys)
    assert host.calls() == [f"stop {OURS}", f"start {OURS}"]
    assert [p.split()[:4] for p in host.pythons()] == [["-m", "pip", "install", "--upgrade"]]
    assert all(path.read_bytes() == content for path, content in kept.items())
    assert settings.read_bytes() == before and "kept" in out
    assert host.state(OURS) == ("enabled", "active")


def test_a_failed_upgrade_starts_the_previous_version_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = fake_host(tmp_path)
    run(host, "install", capsys=capsys)
    failing = FakeHost.make(tmp_path / "failing", {}, fail_pip=True)
    venv_python = host.root / "opt/segmenter/venv/bin/python"
    shutil.copy(failing.tools / "python3", venv_python)
    host.clear_log()
    code = main(["upgrade", *host.install_args(REPO)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Could not find a version" in err
    assert host.calls() == [f"stop {OURS}", f"start {OURS}"]


def test_status_says_which_segmenter_answers_the_dashboard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = fake_host(tmp_path)
    assert main(["status", *host.args()]) == 1
    assert "answered by the old segmenter" in capsys.readouterr().out
    run(host, "install", capsys=capsys)
    out = run(host, "status", capsys=capsys)
    assert "answered by this segmenter" in out and "data root /home/pi/data" in out
    assert "before install: enabled, active" in out
    subprocess.run([host.tools / "systemctl", "start", OLD], check=True)
    assert main(["status", *host.args()]) == 1
    assert "both answer the dashboard" in capsys.readouterr().out


def test_changing_the_system_needs_root_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["uninstall"]) == 2  # refused before any step
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run it with sudo" in err


def test_the_install_command_runs_without_the_packages_it_installs(tmp_path: Path) -> None:
    """`sudo python3 -m segmenter service install` runs from the clone on a fresh Pi:
    nothing of numpy, OpenCV, scikit-image or paho may be imported on the way."""
    block = "import sys; [sys.modules.__setitem__(m, None) for m in ('numpy', 'cv2', "
    block += "'skimage', 'paho')]; sys.argv = ['segmenter', 'service', 'status', '--root', "
    block += f"{str(tmp_path)!r}, '--systemctl', 'true']; import runpy; "
    block += "runpy.run_module('segmenter', run_name='__main__')"
    run = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 1 and "nothing answers the dashboard" in run.stdout, run.stderr


def test_a_missing_user_or_group_is_one_clear_error(tmp_path: Path) -> None:
    host = Host(Layout(root=tmp_path), sys.stdout, systemctl=["true"], dry_run=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(InstallError, match=r"cannot give .*file to :no-such-group-here"):
        host._chown(tmp_path / "file", None, "no-such-group-here")
