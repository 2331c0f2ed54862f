"""The command line as a user meets it: what a skipped acquisition reports, one line per
failure, options after the sub-command, help and defaults on every option."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from segmenter import cli
from segmenter.install.cli import build_parser as install_parser
from segmenter.live.imager import ImagerEvent, Kind
from segmenter.service.follower import STATE_FILE as LIVE_STATE_FILE
from segmenter.service.follower import LiveFollower
from streamer.layout import acquisition_lock
from tests.conftest import MakeAcq

CLI = [sys.executable, "-m", "segmenter"]


def segment(*args: str | Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = cli.main(["segment", *map(str, args), "--json", "--workers", "1"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def test_a_skipped_acquisition_reports_its_objects_and_archive(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = make_acq(frames=3)
    _, first, _ = segment(folder, capsys=capsys)
    code, again, err = segment(folder, capsys=capsys)
    (done,), (skipped,) = first["acquisitions"], again["acquisitions"]
    assert code == cli.EXIT_OK and skipped["status"] == "skipped"
    assert skipped["objects"] == done["objects"] > 0
    assert skipped["archive"] == done["archive"] is not None
    assert f"{done['objects']} objects in 3 frames" in err and done["archive"] in err


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A separate process: its logging is configured as a user's is (no pytest handler)."""
    environ = {k: v for k, v in os.environ.items() if k != "PLANKTOSCOPE_DATA_PATH"}
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=300,
        env=environ | (env or {}),
    )  # fmt: skip


def test_a_bad_metadata_json_is_one_line_naming_the_folder_once(make_acq: MakeAcq) -> None:
    _, folder = make_acq(frames=2)
    (folder / "metadata.json").write_text('{"acq_id": ')
    run = run_cli("segment", folder, "--workers", "1")
    assert run.returncode == cli.EXIT_FAILED
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"failed: {folder}: metadata.json is not readable JSON")
    assert line.count(str(folder)) == 1


def test_an_unknown_broker_is_one_line() -> None:
    run = run_cli("send", "queue", "--broker", "nosuchhost.invalid", "--timeout", "5")
    assert run.returncode == cli.EXIT_FAILED
    (line,) = run.stderr.splitlines()
    assert "cannot reach the MQTT broker at nosuchhost.invalid:1883" in line
    assert "retrying" not in line


def test_ls_without_a_data_root_is_a_usage_error() -> None:
    run = run_cli("ls")
    assert run.returncode == cli.EXIT_USAGE and len(run.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", [["ls", "DATA"], ["segment", "PATH"], ["send", "queue"]])
def test_verbose_is_accepted_after_the_command(command: list[str]) -> None:
    assert cli.build_parser().parse_args([*command, "-v"]).verbose == 1
    assert cli.build_parser().parse_args(["-vv", *command]).verbose == 2


def _actions(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _actions(sub, f"{name} {sub_name}")
        elif action.help != argparse.SUPPRESS and not isinstance(
            action, argparse._HelpAction | argparse._VersionAction
        ):
            yield name, action


@pytest.mark.parametrize("build", [cli.build_parser, install_parser])
def test_every_option_has_help_and_says_its_default(build: Any) -> None:
    missing = []
    for name, action in _actions(build(), "segmenter"):
        flag = "/".join(action.option_strings) or action.dest
        if not action.help:
            missing.append(f"{name} {flag}: no help")
        elif (
            action.option_strings
            and action.default not in (None, False, argparse.SUPPRESS)
            and "default" not in action.help
            and not isinstance(action, argparse._StoreFalseAction | argparse._CountAction)
        ):
            missing.append(f"{name} {flag}: default {action.default!r} not said")
    assert missing == []


def test_replay_creates_its_data_root(make_acq: MakeAcq, tmp_path: Path) -> None:
    _, folder = make_acq(frames=2)
    new_root = tmp_path / "new" / "data"
    run = run_cli("replay", folder, new_root, "--rate", "100")
    assert run.returncode == 0, run.stderr
    assert len(list((new_root / "img").rglob("*.jpg"))) == 2


def ls(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert cli.main(["ls", str(root), "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    return dict(item)


def test_ls_shows_an_acquisition_being_segmented_as_running(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=3)
    objects_dir = root / "objects" / folder.relative_to(root / "img")
    with acquisition_lock(objects_dir):  # as a run holds it
        item = ls(root, capsys)
        assert item["state"] == "running" and f"process {os.getpid()}" in item["reason"]
    assert ls(root, capsys)["state"] == "new"


def test_ls_counts_the_frames_metadata_announces(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=3)
    metadata = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps(metadata | {"acq_nb_frame": 400}))
    item = ls(root, capsys)
    assert (item["state"], item["frames"]) == ("new", 400)
    segment(folder, capsys=capsys)
    item = ls(root, capsys)  # done: the frames there, an acquisition may end early
    assert (item["state"], item["frames"]) == ("done", 3)


def test_serve_warns_once_per_folder_about_frames_outside_its_data_root(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    follower = LiveFollower(tmp_path / "data", lambda _folder: None, 60.0)  # type: ignore[arg-type,return-value]
    outside = [tmp_path / "elsewhere" / name for name in ("S_1/A_1", "S_2/A_1")]
    for folder in outside:
        folder.mkdir(parents=True)
    with caplog.at_level(logging.WARNING, "segmenter.service.follower"):
        for i in range(20):
            for folder in outside:
                follower.on_event(ImagerEvent(Kind.FRAME, folder / f"{i:03}.jpg", i + 1, 20))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    assert all(str(f) in w for f, w in zip(outside, warnings, strict=True))


def test_demo_names_the_report_files_and_its_folder(tmp_path: Path) -> None:
    run = run_cli("demo", "--frames", "3", "--workers", "1", "--dir", tmp_path)
    assert run.returncode == 0, run.stderr
    reports = [
        line.split(": ", 1)[1] for line in run.stdout.splitlines() if line.startswith("report: ")
    ]
    assert sorted(Path(r).name for r in reports) == [
        "mosaic_synth_s1_synth_a1.jpg", "size_spectrum_synth_s1_synth_a1.png",
        "summary_synth_s1_synth_a1.json",
    ]  # fmt: skip
    assert all(Path(r).is_file() for r in reports) and "temporary" not in run.stderr


def test_ls_shows_an_acquisition_the_service_follows_live(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=3)
    state = root / LIVE_STATE_FILE
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"following": [str(folder.resolve())]}))
    assert ls(root, capsys)["state"] == "live"
    segment(folder, capsys=capsys)
    assert ls(root, capsys)["state"] == "done"  # done wins over a stale live.json
