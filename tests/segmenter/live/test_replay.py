"""`segmenter replay`: the imager's files and messages, in its order, at the given rate,
against a real mosquitto and a synthetic acquisition."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from segmenter.acquisition import list_frames
from segmenter.cli import main
from segmenter.errors import ConfigError
from segmenter.live import replay
from segmenter.live.watch import FolderWatcher
from tests.conftest import MakeAcq
from tests.segmenter.service.harness import Broker, Received, Recorder

SENTINEL = b'{"status":"test sentinel"}'


@pytest.fixture
def source(make_acq: MakeAcq, tmp_path: Path) -> Path:
    return make_acq(tmp_path / "src", frames=4, width=640, height=480)[1]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path / "out"


def imager_sha1(name: str, data: bytes) -> str:
    return hashlib.sha1(name.encode() + b"\0" + data).hexdigest()


class FakeTime:
    """A clock that only moves when the replay waits (or a test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def test_files_appear_as_the_imager_writes_them(source: Path, root: Path) -> None:
    fake = FakeTime()
    result = replay.run(replay.plan(source, root), clock=fake.clock, wait=fake.wait)
    target = root / "img" / source.relative_to(source.parents[2])
    assert result.target == target and result.written == 4 and result.end == "done"
    assert (target / "metadata.json").read_bytes() == (source / "metadata.json").read_bytes()
    frames = list_frames(source)
    assert [p.name for p in list_frames(target)] == [p.name for p in frames]
    lines = (target / "integrity.check").read_text().splitlines()
    assert lines[:2] == [
        "# planktoscope integrity file, see https://www.planktoscope.org",
        "# filename,size,sha1",
    ]
    for line, name in zip(lines[2:], ["metadata.json", *(p.name for p in frames)], strict=True):
        data = (source / name).read_bytes()
        assert (target / name).read_bytes() == data
        assert line == f"{name},{len(data)},{imager_sha1(name, data)}"


def test_frame_k_is_due_at_start_plus_k_over_rate(source: Path, root: Path) -> None:
    """Against the clock: a slow write does not push the next frames back."""
    fake = FakeTime()
    written_at: list[float] = []

    def slow_write(event: replay.FrameWritten) -> None:
        written_at.append(fake.now)
        fake.now += 0.3  # each frame takes 0.3 s of the 0.5 s period to hand over

    plan = replay.plan(source, root, rate=2.0)
    result = replay.run(plan, on_frame=slow_write, clock=fake.clock, wait=fake.wait)
    assert written_at == [0.0, 0.5, 1.0, 1.5]
    assert result.max_late_s == 0.0


def test_frames_are_late_when_writing_is_slower_than_the_rate(source: Path, root: Path) -> None:
    fake = FakeTime()

    def slower(event: replay.FrameWritten) -> None:
        fake.now += 0.7

    result = replay.run(
        replay.plan(source, root, rate=2.0), on_frame=slower, clock=fake.clock, wait=fake.wait
    )
    assert result.written == 4 and result.max_late_s == pytest.approx(3 * 0.7 - 1.5)
    assert fake.now == pytest.approx(4 * 0.7)  # never waited: each was due already
    assert fake.waits == []


def test_the_rate_holds_on_average(source: Path, root: Path) -> None:
    began = time.monotonic()
    result = replay.run(replay.plan(source, root, rate=20.0))
    assert time.monotonic() - began >= 3 / 20 and result.seconds >= 3 / 20
    assert result.written == 4


def test_stop_requested_publishes_interrupted(source: Path, root: Path) -> None:
    sent: list[bytes] = []
    calls = iter([False, True])
    result = replay.run(
        replay.plan(source, root, rate=1.0),
        lambda _topic, payload: sent.append(payload),
        wait=lambda _s: next(calls),
    )
    assert result.end == "stopped" and result.written == 1
    assert sent[-1] == b'{"status":"Interrupted"}'


def test_the_watcher_sees_what_replay_writes(source: Path, root: Path) -> None:
    result = replay.run(replay.plan(source, root, rate=1000.0))
    watcher = FolderWatcher(result.target, settle=3600.0)
    assert watcher.poll() == list(list_frames(result.target))  # all listed in integrity.check


def test_frames_rewrites_acq_nb_frame(source: Path, root: Path) -> None:
    result = replay.run(replay.plan(source, root, rate=1000.0, frames=2))
    assert result.written == 2
    meta = json.loads((result.target / "metadata.json").read_text())
    assert meta["acq_nb_frame"] == 2
    assert FolderWatcher(result.target).expected() == 2


def sentinel(broker: Broker) -> None:
    """Published after the replay: everything before it on status/imager is the replay's."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sentinel")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish("status/imager", SENTINEL, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def replayed(recorder: Recorder, broker: Broker) -> list[bytes]:
    sentinel(broker)
    recorder.wait(lambda r: any(m.raw == SENTINEL for m in r.messages), 10)
    raws = [m.raw for m in recorder.messages]
    return raws[: raws.index(SENTINEL)]


@pytest.mark.mqtt
def test_messages_arrive_in_the_imagers_order_and_format(
    source: Path, root: Path, broker: Broker
) -> None:
    seen: list[tuple[str, bool]] = []  # at each progress event: the file whole and listed?

    def check(message: Received) -> None:
        if isinstance(message.data, dict) and message.data.get("type") == "progress":
            path = Path(message.data["path"])
            listed = (path.parent / "integrity.check").read_text()
            line = f"{path.name},{path.stat().st_size},"
            whole = path.read_bytes() == (source / path.name).read_bytes()
            seen.append((path.name, whole and line in listed))

    recorder = Recorder(broker, "status/imager", check)
    try:
        code = main(["replay", str(source), str(root), "--rate", "50", "--broker", broker.address])
        assert code == 0
        got = replayed(recorder, broker)
    finally:
        recorder.close()
    target = root / "img" / source.relative_to(source.parents[2])
    names = [p.name for p in list_frames(source)]
    expected = [b'{"status":"Started"}']
    for i, name in enumerate(names, 1):
        expected.append(f'{{"status":"Image {i}/4 saved to {name}"}}'.encode())
        progress = {"type": "progress", "path": str(target / name), "current": i, "total": 4}
        expected.append(json.dumps(progress).encode())
    expected.append(json.dumps({"status": "Done", "path": str(target)}).encode())
    assert got == expected
    assert seen == [(name, True) for name in names]


@pytest.mark.mqtt
@pytest.mark.parametrize(
    ("end", "last"),
    [
        ("interrupted", b'{"status":"Interrupted"}'),
        ("not-captured", b'{"status":"Image 3/4 WAS NOT CAPTURED! STOPPING THE PROCESS!"}'),
        ("silent", None),
    ],
)
def test_each_end(source: Path, root: Path, broker: Broker, end: str, last: bytes | None) -> None:
    recorder = Recorder(broker, "status/imager")
    args = ["replay", str(source), str(root), "--rate", "50", "--broker", broker.address]
    try:
        assert main([*args, "--qos", "1", "--stop-after", "2", "--end", end]) == 0
        got = replayed(recorder, broker)
    finally:
        recorder.close()
    target = root / "img" / source.relative_to(source.parents[2])
    assert len(list_frames(target)) == 2
    assert got[0] == b'{"status":"Started"}'
    progress = [json.loads(m) for m in got if b'"progress"' in m]
    assert [(p["current"], p["total"]) for p in progress] == [(1, 4), (2, 4)]
    assert len(got) == 5 + (last is not None)  # Started, 2 x (text, progress), the end
    assert got[-1] == (last or got[4])  # silent: the second progress event is the last
    assert not any(b'"Done"' in m for m in got)


def test_without_broker_only_files(source: Path, root: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["replay", str(source), str(root), "--rate", "1000", "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["frames"] == 4 and summary["end"] == "done" and summary["total"] == 4
    assert len(err.splitlines()) == 4  # one line per frame


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--end", "silent"], "--end silent needs --stop-after K"),
        (["--stop-after", "4"], "--stop-after 4: the replay has 4 frames"),
        (["--stop-after", "1", "--end", "done"], "end with interrupted, not-captured or silent"),
        (["--frames", "9"], "has only 4 frames"),
        (["--as", "../up"], "without '..'"),
    ],
)
def test_bad_usage_is_one_line(
    source: Path, root: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["replay", str(source), str(root), *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
    assert not (root / "img").exists()  # checked before anything is written


def test_an_existing_destination_is_refused(
    source: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(source), str(root), "--rate", "1000", "--as", "a/b/c"]) == 0
    capsys.readouterr()
    assert main(["replay", str(source), str(root), "--as", "a/b/c"]) == 1
    assert "already exists" in capsys.readouterr().err
    # SRC into its own data root: the same folder, refused
    assert main(["replay", str(source), str(source.parents[3])]) == 1


@pytest.mark.mqtt
def test_an_unreachable_broker_fails_before_anything_is_written(
    source: Path, root: Path, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    broker.stop()
    code = main(["replay", str(source), str(root), "--broker", broker.address])
    assert code == 1 and "cannot reach the MQTT broker" in capsys.readouterr().err
    assert not (root / "img").exists()


def test_replay_runs_beside_a_reader(source: Path, root: Path) -> None:
    """A watcher polling while the replay writes gets every frame once, in name order."""
    plan = replay.plan(source, root, rate=40.0, rel=Path("live/S/A"))
    worker = threading.Thread(target=replay.run, args=(plan,))
    worker.start()
    while not plan.target.exists():
        time.sleep(0.005)
    watcher = FolderWatcher(plan.target, settle=3600.0)
    got: list[Path] = []
    while worker.is_alive():
        got += watcher.poll()
        time.sleep(0.002)
    worker.join()
    got += watcher.poll()
    assert got == list(list_frames(plan.target)) and len(got) == 4


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for words in ("--rate", "--stop-after", "WAS NOT CAPTURED", "integrity.check", "exit status"):
        assert words in text


def test_a_source_outside_img_goes_where_the_imager_would_put_it(
    source: Path, root: Path, tmp_path: Path
) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    for path in (source / "metadata.json", *list_frames(source)[:1]):
        (loose / path.name).write_bytes(path.read_bytes())
    meta = json.loads((loose / "metadata.json").read_text())
    (loose / "metadata.json").write_text(json.dumps(meta | {"acq_id": "'A 1'"}))
    target = replay.plan(loose, root).target
    assert target == root / "img" / meta["object_date"] / meta["sample_id"] / "A_1"
    (loose / "metadata.json").write_text(json.dumps({"acq_id": "A"}))
    with pytest.raises(ConfigError, match="no object_date: pass --as REL"):
        replay.plan(loose, root)


def test_what_replay_says_is_what_the_service_reads() -> None:
    """The writing side (live.imager) and the reading side (parse_imager) agree."""
    from segmenter.live import imager
    from segmenter.live.imager import Kind, parse_imager

    frame = "/data/img/d/s/a/2026-03-10_10-00-00-000000.jpg"
    events = [
        parse_imager(p)
        for p in (
            imager.started(),
            imager.saved(1, 3, "x.jpg"),
            imager.progress(frame, 1, 3),
            imager.done("/data/img/d/s/a"),
            imager.interrupted(),
            imager.not_captured(2, 3),
        )
    ]
    assert [e.kind if e else None for e in events] == [
        Kind.STARTED, None, Kind.FRAME, Kind.DONE, Kind.INTERRUPTED, Kind.NOT_CAPTURED,
    ]  # fmt: skip
    assert events[2] is not None and (events[2].path, events[2].current) == (Path(frame), 1)
    assert events[3] is not None and events[3].path == Path("/data/img/d/s/a")
