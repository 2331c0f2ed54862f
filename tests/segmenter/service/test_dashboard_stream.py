"""The legacy stream on status/segmenter, as SPEC section 4 states it: one terminal status
per `segment` command, in order and after all of its work; one `Interrupted` per stopped
command, none for a repeated stop; other clients' work only on the service's own topics;
errors with `exception` and without `done`."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from segmenter.cli.client import EXIT_OK, send
from segmenter.cli.send import _segment_command
from segmenter.service.dashboard_stream import DashboardStream
from segmenter.service.status import REPLY_TOPIC, reserved_words
from segmenter.synth import SynthSpec, write_acquisition
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import COUNT_RE, Broker, Harness, Recorder, check_dashboard
from tests.segmenter.service.test_service import frame_statuses, units

pytestmark = pytest.mark.mqtt
StartHarness = Callable[..., Harness]
EXCEPTION = "An exception was raised during the segmentation: "


def dashboard(folder: Path) -> dict[str, Any]:
    """What the dashboard publishes: no id, the settings it always sends."""
    settings = {"force": False, "recursive": True, "ecotaxa": True, "keep": False}
    return {"action": "segment", "path": [str(folder)], "settings": settings}


def replies(recorder: Recorder, cid: str) -> list[dict[str, Any]]:
    return [r for r in recorder.on(REPLY_TOPIC) if r["id"] == cid]


def test_two_commands_at_once_get_two_done(
    harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    """The older dashboard has no queue: two presses publish two commands at once."""
    a, b = copy_acq(frames=5, seed=3), copy_acq(frames=3, seed=4)
    harness(delay=0.05)
    recorder.send(dashboard(a))
    recorder.send(dashboard(b))
    recorder.wait_status("Done", count=2, timeout=30)
    first, second = units(recorder.statuses())
    for unit, folder, n in ((first, a, 5), (second, b, 3)):
        names = sorted(p.name for p in folder.glob("*.jpg"))
        frames = [f"Segmenting image {f}, image {i}/{n}" for i, f in enumerate(names, 1)]
        assert unit == ["Started", "Calculating flat", *frames, "Done"]


def test_another_clients_job_stays_off_the_legacy_stream(
    broker: Broker, harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    """The dashboard's item runs; the command line queues a job meanwhile: the dashboard
    gets its Done right after its own frames and never sees the other job."""
    mine, other = copy_acq(frames=8, seed=3), copy_acq(frames=4, seed=4)
    harness(delay=0.05)
    recorder.send(dashboard(mine))
    recorder.wait(frame_statuses(recorder, 1))
    results: list[int] = []
    cli = threading.Thread(
        target=lambda: results.append(send(broker.settings, cli_segment(other), follow=True))
    )
    cli.start()
    recorder.wait_status("Done")
    cli.join(60)
    time.sleep(0.3)
    assert results == [EXIT_OK] and recorder.item("cli-job")["state"] == "done"
    (unit,) = units(recorder.statuses())
    check_dashboard(unit)
    assert [s for s in unit if COUNT_RE.search(s)][-1].endswith("image 8/8")
    assert not [s for s in unit if "/4" in s]
    progress = [p for p in recorder.on("status/segmenter/progress") if p["item"] == "cli-job"]
    assert progress and progress[-1]["state"] == "done"


def cli_segment(folder: Path) -> dict[str, Any]:
    """What `segmenter send segment FOLDER --id cli-job` publishes."""
    args = argparse.Namespace(
        paths=[str(folder)], id="cli-job", enqueue=False, min_esd=None, workers=None,
        process_id=None, compat=None, force=None, recursive=None, ecotaxa=None, keep=None,
        remove_previous_mask=None,
    )  # fmt: skip
    return _segment_command(args)


def test_a_double_clicked_stop_answers_one_interrupted(
    harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    """Two stops 5 ms apart, then (as the dashboard does on Interrupted) the next item:
    one Interrupted, the next item is not stopped and ends Done."""
    a, b = copy_acq(frames=20, seed=3), copy_acq(frames=4, seed=4)
    harness(delay=0.1)
    recorder.send(dashboard(a))
    recorder.wait(frame_statuses(recorder, 2))
    recorder.send({"action": "stop"})
    time.sleep(0.005)
    recorder.send({"action": "stop"})
    recorder.wait_status("Interrupted")
    recorder.send(dashboard(b))
    recorder.send({"action": "stop", "id": "late"})  # within 2 s of the Interrupted
    recorder.wait_status("Done", timeout=30)
    time.sleep(0.5)
    first, second = units(recorder.statuses())
    assert first[-1] == "Interrupted" and second[-1] == "Done"
    assert recorder.statuses().count("Interrupted") == 1
    check_dashboard(second)
    assert replies(recorder, "late")[0]["ok"]  # answered, on the reply topic only


def test_a_stop_while_idle_answers_interrupted_once_per_click(
    harness: StartHarness, recorder: Recorder
) -> None:
    harness()
    recorder.send({"action": "stop"})
    recorder.send({"action": "stop", "id": "again"})
    recorder.wait(lambda r: bool(replies(r, "again")))
    time.sleep(0.3)
    assert [s for s in recorder.statuses() if s != "Ready"] == ["Interrupted"]
    time.sleep(2.0)  # later, a stop is a new click: answered as the old service did
    recorder.send({"action": "stop"})
    recorder.wait_status("Interrupted", count=2)


def test_a_stop_of_a_waiting_item_cancels_it_not_the_other_clients_job(
    harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    """The dashboard's item waits behind another client's job; Stop current ends the
    dashboard's item (one Interrupted) and the other job goes on."""
    other, mine = copy_acq(frames=10, seed=3), copy_acq(frames=3, seed=4)
    harness(delay=0.1)
    recorder.send({"action": "enqueue", "path": str(other), "id": "other", "start_queue": True})
    recorder.wait(lambda r: r.state("other") == "running")
    recorder.send(dashboard(mine))
    time.sleep(0.3)
    recorder.send({"action": "stop"})
    recorder.wait_status("Interrupted")
    recorder.wait(lambda r: r.state("other") == "done", timeout=30)
    time.sleep(0.3)
    assert [s for s in recorder.statuses() if s != "Ready"] == ["Interrupted"]
    assert not (mine / "done.txt").exists() and (other / "done.txt").exists()


def test_errors_say_exception_and_never_done(
    harness: StartHarness, recorder: Recorder, data_root: Path
) -> None:
    """A failing acquisition (its metadata is broken, its path holds `done`) and a refused
    command: each one status, the baseline's form, red in the Details panel."""
    bad = data_root / "img" / "2026-03-11" / "S_done" / "A_1"
    bad.mkdir(parents=True)
    (bad / "metadata.json").write_text("{broken")
    (bad / "frame.jpg").write_bytes(b"")
    harness()
    recorder.send(dashboard(bad))
    recorder.send(dashboard(data_root / "img" / "nowhere" / "done.txt"))
    recorder.wait(lambda r: sum(EXCEPTION in s for s in r.statuses()) == 2)
    time.sleep(0.3)
    first, second = units(recorder.statuses())
    assert first[:-1] == ["Started"] and second == second[-1:]
    for status in (first[-1], second[-1]):
        assert status.startswith(EXCEPTION) and status.endswith(".")
        assert reserved_words(status) == ["exception"], status
    assert "metadata.json" in first[-1] and "does not exist" in second[-1]


def test_the_flat_is_announced_once_as_the_old_program_did(
    harness: StartHarness, recorder: Recorder, data_root: Path
) -> None:
    """A recalculated flat field (dense frames) is not announced again mid-run."""
    spec = SynthSpec(frames=14, objects=40, width=640, height=480, seed=11)
    folder = write_acquisition(data_root, spec)
    harness()
    command = dashboard(folder)
    command["settings"]["process_min_ESD"] = 15
    recorder.send(command)
    recorder.wait_status("Done", timeout=60)
    (unit,) = units(recorder.statuses())
    assert unit[:2] == ["Started", "Calculating flat"] and unit.count("Calculating flat") == 1
    assert len([s for s in unit if COUNT_RE.search(s)]) == 14


def test_terminals_keep_the_order_of_the_commands() -> None:
    """A unit that ends early (a waiting item removed) waits for the ones before it."""
    said: list[str] = []
    now = [0.0]
    stream = DashboardStream(said.append, lambda: now[0])
    for item in ("a", "b", "c"):
        stream.add(item)
    stream.start("a")
    stream.start("a")  # an item that gave way to a live acquisition runs again: said once
    stream.start("x")  # not a unit: says nothing
    stream.end("b", "Interrupted")
    assert said == ["Started"]
    stream.stopping("a")
    assert stream.repeated_stop()  # the stop of a is still being carried out
    stream.end("a", "Done")  # a stop reached it: Interrupted, not Done
    assert said == ["Started", "Interrupted", "Interrupted"]
    now[0] += 1.9
    assert stream.repeated_stop() and stream.first_open() == "c"
    now[0] += 0.2
    assert not stream.repeated_stop()
    stream.refused("An exception was raised during the segmentation: bad.")
    stream.end("c", "Done")
    assert said[3:] == ["Done", "An exception was raised during the segmentation: bad."]
    assert stream.first_open() is None
