"""The service against a real mosquitto: status sequences as the dashboard reads them."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from segmenter.service.status import Info, reserved_words
from segmenter.service.values import max_workers
from streamer.ecotaxa import read_tsv
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import (
    COUNT_RE,
    Broker,
    Harness,
    Recorder,
    check_dashboard,
    iter_frames,
)

pytestmark = pytest.mark.mqtt
StartHarness = Callable[..., Harness]
MOSQUITTO_SUB = ("mosquitto_sub", "-h", "127.0.0.1", "-p")
# QoS 1; exit after the probe and the 9 statuses of a 6-frame run, or after 60 s
SUB_ARGS = ("-q", "1", "-C", "10", "-W", "60", "-t", "status/segmenter", "-t", "test/probe")


def segment(folder: Path, item_id: str | None = None, **settings: Any) -> dict[str, Any]:
    command: dict[str, Any] = {"action": "segment", "path": [str(folder)], "settings": settings}
    if item_id:
        command["id"] = item_id
    return command


def units(statuses: list[str]) -> list[list[str]]:
    """Split a status stream after each terminal status (dropping the leading Ready)."""
    out: list[list[str]] = [[]]
    for status in statuses:
        if status == "Ready":
            continue
        out[-1].append(status)
        if reserved_words(status):
            out.append([])
    return [u for u in out if u]


def frame_statuses(rec: Recorder, at_least: int) -> Callable[[Recorder], bool]:
    def seen(r: Recorder) -> bool:
        return any((m := COUNT_RE.search(s)) and int(m[1]) >= at_least for s in r.statuses())

    return seen


def test_full_run_exact_sequence_with_mosquitto_clients(
    broker: Broker, harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    folder = copy_acq(frames=6, seed=1)
    h = harness()
    # the service's first Ready is not retained: once the recorder has it, mosquitto_sub
    # (subscribed after) cannot get it between the probe and the run's statuses
    recorder.wait_status("Ready", timeout=30)
    sub = subprocess.Popen(
        [*MOSQUITTO_SUB, str(broker.port), *SUB_ARGS],
        stdout=subprocess.PIPE,
        text=True,
    )
    pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1"]
    subprocess.run([*pub, "-r", "-t", "test/probe", "-m", '{"probe": 1}'], check=True)
    assert sub.stdout is not None
    assert json.loads(sub.stdout.readline()) == {"probe": 1}  # mosquitto_sub is subscribed
    dashboard = {
        "action": "segment",
        "path": [str(folder)],
        "settings": {
            "force": False,
            "recursive": True,
            "ecotaxa": True,
            "keep": True,
            "process_id": 1,
            "process_min_ESD": "20",
            "remove_previous_mask": False,
            "worker_count": 2,
        },
        "dataset": {"sample_project": "ignored"},
    }
    subprocess.run([*pub, "-t", "segmenter/segment", "-m", json.dumps(dashboard)], check=True)
    out, _ = sub.communicate(timeout=60)
    statuses = [json.loads(line)["status"] for line in out.splitlines()]

    names = sorted(p.name for p in folder.glob("*.jpg"))
    expected = ["Started", "Calculating flat"]
    expected += [f"Segmenting image {n}, image {i}/6" for i, n in enumerate(names, 1)]
    assert statuses == [*expected, "Done"]
    check_dashboard(statuses)
    assert h.engine.pool.workers == 1  # the item's own count ended with it

    rec = recorder
    rec.wait(lambda r: "Done" in r.statuses())
    root = folder.parents[3]
    assert (folder / "done.txt").is_file()
    assert (root / "clean" / folder.relative_to(root / "img") / "flat_color.jpg").is_file()
    tsv = root / "objects" / folder.relative_to(root / "img") / "ecotaxa_synth_s1_synth_a1.tsv"
    _names, _types, rows = read_tsv(tsv)
    ids = [row["object_id"] for row in rows]
    rec.wait(lambda r: len(r.on("status/segmenter/metric")) == len(ids))
    labels = [row["object_label"] for row in rows]  # as the old program: the label, as text
    assert [m["object_id"] for m in rec.on("status/segmenter/object_id")] == labels
    metrics = rec.on("status/segmenter/metric")
    assert [m["name"] for m in metrics] == ids
    assert metrics[0]["metadata"]["area"] == float(rows[0]["object_area"])
    items = rec.on("status/segmenter/queue")[-1]["items"]
    assert [(i["state"], i["frames_done"], i["objects"]) for i in items] == [("done", 6, len(ids))]
    assert items[0]["settings"]["workers"] == min(2, max_workers())  # worker_count honoured
    progress = [p for p in rec.on("status/segmenter/progress") if p["item"]]
    assert progress[-1]["state"] == "done" and progress[-2]["frame"] == 6
    assert all(p["item"] == items[0]["id"] for p in progress)


def test_stop_in_the_middle_then_resume(
    harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder, data_root: Path
) -> None:
    folder = copy_acq(frames=30, seed=2)
    h = harness(delay=0.1)
    recorder.send(segment(folder, "first"))
    recorder.wait(frame_statuses(recorder, 3))
    sent = time.monotonic()
    recorder.send({"action": "stop"})
    recorder.wait_status("Interrupted")
    interrupted = next(m for m in recorder.messages if m.data == {"status": "Interrupted"})
    assert interrupted.at - sent < 1.0
    time.sleep(0.5)
    statuses = recorder.statuses()
    assert statuses.count("Interrupted") == 1 and "Done" not in statuses
    check_dashboard(units(statuses)[0])
    assert not (folder / "done.txt").exists()
    assert not list(data_root.glob("export/ecotaxa/*.zip"))
    committed = len(list(iter_frames(data_root, folder)))
    assert 3 <= committed < 30
    assert not [p for p in data_root.rglob("*.tmp")]
    assert recorder.item("first")["state"] == "interrupted"

    h.engine.delay = 0.0
    recorder.send(segment(folder, "again"))
    recorder.wait_status("Done")
    second = units(recorder.statuses())[1]
    check_dashboard(second)
    first_frame = next(COUNT_RE.search(s) for s in second if COUNT_RE.search(s))
    assert first_frame is not None and int(first_frame[1]) == committed + 1  # resumed
    assert (folder / "done.txt").is_file()
    assert (data_root / "export" / "ecotaxa" / "ecotaxa_synth_s2_synth_a2.zip").is_file()


def test_a_second_segment_is_queued_never_busy(
    harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    a, b = copy_acq(frames=12, seed=3), copy_acq(frames=6, seed=4)
    harness(delay=0.05)
    recorder.send(segment(a, "a"))
    recorder.wait(frame_statuses(recorder, 1))
    recorder.send(segment(b, "b"))
    recorder.wait_status("Done", count=2)
    time.sleep(0.3)
    statuses = recorder.statuses()
    assert statuses.count("Done") == 2 and statuses.count("Started") == 2
    assert not any("busy" in s.lower() for s in statuses)
    for unit in units(statuses):  # one unit per command, each ending Done
        check_dashboard(unit)
    replies = {r["id"]: r for r in recorder.on("status/segmenter/reply")}
    assert replies["b"]["ok"] and replies["b"]["message"] == "queued at position 1"
    assert recorder.item("a")["state"] == recorder.item("b")["state"] == "done"


def test_stop_current_goes_on_with_the_queue(
    harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    a, b = copy_acq(frames=20, seed=3), copy_acq(frames=6, seed=4)
    harness(delay=0.05)
    recorder.send(segment(a, "a"))
    recorder.send(segment(b, "b"))
    recorder.wait(frame_statuses(recorder, 2))
    recorder.send({"action": "stop", "scope": "current"})
    recorder.wait_status("Done")
    time.sleep(0.3)
    first, second = units(recorder.statuses())
    assert first[-1] == "Interrupted" and second[-1] == "Done"
    check_dashboard(first)
    check_dashboard(second)
    assert recorder.item("a")["state"] == "interrupted"
    assert recorder.item("b")["state"] == "done"


def test_stop_queue_lets_the_item_finish_then_pauses(
    harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    a, b = copy_acq(frames=12, seed=3), copy_acq(frames=6, seed=4)
    harness(delay=0.05)
    recorder.send(segment(a, "a"))
    recorder.send({"action": "enqueue", "path": str(b), "id": "b"})
    recorder.wait(frame_statuses(recorder, 1))
    recorder.send({"action": "stop", "scope": "queue", "id": "pause"})
    recorder.wait_status("Done")
    time.sleep(0.4)
    statuses = recorder.statuses()
    assert statuses[-1] == "Done"  # the pause is answered on the reply topic only
    check_dashboard(units(statuses)[0])
    assert "Interrupted" not in statuses
    assert [r["message"] for r in recorder.on("status/segmenter/reply") if r["id"] == "pause"]
    assert recorder.item("a")["state"] == "done" and recorder.item("b")["state"] == "pending"
    assert recorder.on("status/segmenter/queue")[-1]["paused"] is True
    recorder.send({"action": "resume"})
    recorder.wait(lambda r: r.state("b") == "done")
    assert recorder.statuses() == statuses  # b came by enqueue: not on the legacy stream


def test_stop_all_drops_the_queue(
    harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    a, b = copy_acq(frames=20, seed=3), copy_acq(frames=6, seed=4)
    harness(delay=0.05)
    recorder.send(segment(a, "a"))
    recorder.send(segment(b, "b"))
    recorder.send(segment(b, "b2"))
    recorder.wait(frame_statuses(recorder, 2))
    recorder.send({"action": "stop", "scope": "all"})
    recorder.wait_status("Interrupted", count=3)
    time.sleep(0.6)
    statuses = recorder.statuses()
    # three commands, three units: each stopped one answers its one Interrupted, in order
    assert statuses.count("Interrupted") == 3 and "Done" not in statuses
    assert statuses.count("Started") == 1
    check_dashboard(units(statuses)[0])
    assert [recorder.item(i)["state"] for i in ("a", "b", "b2")] == ["interrupted"] * 3
    assert not (b / "done.txt").exists()


def test_reorder_and_dequeue(harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder) -> None:
    a, b = copy_acq(frames=12, seed=3), copy_acq(frames=6, seed=4)
    harness(delay=0.05)
    recorder.send(segment(a, "a"))
    for name in ("b", "c", "d"):
        recorder.send(
            {"action": "enqueue", "path": str(b), "id": name, "settings": {"force": True}}
        )
    recorder.wait(frame_statuses(recorder, 1))
    recorder.send({"action": "reorder", "order": ["d", "b"]})
    recorder.send({"action": "dequeue", "item": "c"})
    recorder.wait(lambda r: r.state("b") == "done")
    time.sleep(0.3)
    running = [q["running"] for q in recorder.on("status/segmenter/queue") if q["running"]]
    order = [r for i, r in enumerate(running) if i == 0 or running[i - 1] != r]
    assert order == ["a", "d", "b"]
    assert recorder.item("c")["state"] == "interrupted"
    assert recorder.statuses().count("Done") == 1


BAD_COMMANDS: list[bytes] = [
    b"{not json",
    b"[1, 2, 3]",
    b'{"action": "explode"}',
    b'{"action": "segment", "path": 42}',
    b'{"action": "segment", "path": "img", "settings": {"force": "yes"}}',
    b'{"action": "segment", "path": "img", "settings": {"worker_count": -2}}',
    b'{"action": "segment", "path": "img/does/not/exist/done.txt"}',
    b'{"action": "segment", "path": "/etc"}',
    b'{"action": "segment", "path": "img/../.."}',
    b'{"action": "stop", "scope": "sideways"}',
    b'{"action": "dequeue", "item": "nobody"}',
    b'{"action": "reorder", "order": ["nobody"]}',
    b'{"action": "update_config", "config": {"process_min_ESD": "big"}}',
]


def test_bad_commands_answer_one_error_and_change_nothing(
    harness: StartHarness, recorder: Recorder, data_root: Path
) -> None:
    """Every refusal is a reply; a refused `segment` is also a unit of the legacy stream,
    ending at once with one error (the dashboard waits for one), in the baseline's form."""
    harness()
    queue_file = data_root / ".segmenter" / "queue.json"
    before = queue_file.read_bytes()
    for n, payload in enumerate(BAD_COMMANDS, 1):
        recorder.send(payload)
        recorder.wait(lambda r, n=n: len(r.on("status/segmenter/reply")) >= n)  # type: ignore[misc]
    time.sleep(0.3)
    statuses = [s for s in recorder.statuses() if s != "Ready"]
    segments = [p for p in BAD_COMMANDS if b'"action": "segment"' in p]
    assert len(statuses) == len(segments)
    for status in statuses:
        assert status.startswith("An exception was raised during the segmentation: "), status
        assert reserved_words(status) == ["exception"], status
    assert any("d***.txt" in s for s in statuses)
    assert all(not r["ok"] for r in recorder.on("status/segmenter/reply"))
    assert queue_file.read_bytes() == before
    assert not (data_root / "objects").exists()


def test_update_config_when_idle_and_refused_while_running(
    harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder
) -> None:
    folder = copy_acq(frames=12, seed=3)
    h = harness(delay=0.05)  # the service's own count: 1 (its engine's)
    config = {"process_min_ESD": "30", "worker_count": 2}
    recorder.send({"action": "update_config", "config": config})
    recorder.wait_status(Info.CONFIG_UPDATED)
    recorder.send(segment(folder, "a"))
    recorder.wait(frame_statuses(recorder, 1))
    recorder.send({"action": "update_config", "config": {"process_min_ESD": 5}})
    recorder.wait_status(Info.CONFIG_REFUSED)
    recorder.wait_status("Done")
    statuses = recorder.statuses()
    check_dashboard(units(statuses)[0][1:])  # "Config updated", then the unit of work
    assert reserved_words(Info.CONFIG_REFUSED) == []
    assert statuses.count(Info.CONFIG_REFUSED) == 1 and not [s for s in statuses if "Err" in s]
    refused = [r for r in recorder.on("status/segmenter/reply") if not r["ok"]]
    assert [r["action"] for r in refused] == ["update_config"]
    assert recorder.item("a")["settings"]["min_esd_um"] == 30.0
    workers = min(2, max_workers())  # the default count now, for the item and after it
    assert recorder.item("a")["settings"]["workers"] == h.engine.pool.workers == workers


def test_broker_restart_during_a_job(
    broker: Broker, harness: StartHarness, copy_acq: CopyAcq, recorder: Recorder, data_root: Path
) -> None:
    folder = copy_acq(frames=30, seed=5)
    harness(delay=0.15)
    recorder.send(segment(folder, "a"))
    recorder.wait(frame_statuses(recorder, 3))
    broker.stop()
    stopped = time.monotonic()
    time.sleep(0.5)
    broker.start()
    restarted = time.monotonic()
    recorder.wait_status("Done", timeout=40)
    time.sleep(0.3)
    # mosquitto itself publishes every client's Last Will when it shuts down: that Dead
    # is the broker's, sent before the restart; the service never says Dead here.
    deads = [m for m in recorder.messages if m.data == {"status": "Dead"}]
    assert all(m.at < restarted for m in deads)
    statuses = [s for s in recorder.statuses() if s not in ("Ready", "Dead")]
    assert statuses.count("Done") == 1 and recorder.statuses().count("Ready") == 1
    check_dashboard(statuses)
    after = [m for m in recorder.messages if m.at > restarted]
    assert any(COUNT_RE.search(m.data.get("status", "")) for m in after), "statuses resumed"
    assert any(m.topic.endswith("/queue") for m in after), "the queue was republished"
    assert stopped < restarted
    assert recorder.item("a")["state"] == "done"
    assert len(list(iter_frames(data_root, folder))) == 30
