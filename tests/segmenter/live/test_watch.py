"""FolderWatcher on real files: integrity.check lines, the settle rule, order, once each."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from segmenter.live.imager import INTEGRITY_FILE, INTEGRITY_HEADER, integrity_line
from segmenter.live.watch import FolderWatcher


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return bytes(cv2.imencode(".jpg", pixels)[1])


NAMES = [f"2026-03-10_10-00-0{i}-000000.jpg" for i in range(6)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    acq = tmp_path / "img" / "2026-03-10" / "S" / "A"
    acq.mkdir(parents=True)
    (acq / "metadata.json").write_text(json.dumps({"acq_id": "A", "acq_nb_frame": 6}))
    (acq / INTEGRITY_FILE).write_text("".join(INTEGRITY_HEADER))
    return acq


def list_frame(folder: Path, name: str, data: bytes | None = None) -> None:
    data = (folder / name).read_bytes() if data is None else data
    with open(folder / INTEGRITY_FILE, "a") as f:
        f.write(integrity_line(name, data))


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_frame_written_in_two_halves_waits_until_complete_and_settled(folder: Path) -> None:
    clock = FakeClock()
    watcher = FolderWatcher(folder, settle=1.0, clock=clock)
    data = jpeg(0)
    frame = folder / NAMES[0]
    frame.write_bytes(data[: len(data) // 2])
    assert watcher.poll() == []
    clock.now += 5  # the first half alone, however long it stays, has no end marker
    assert watcher.poll() == []
    with open(frame, "ab") as f:
        f.write(data[len(data) // 2 :])
    assert watcher.poll() == []  # complete, but its size just changed
    clock.now += 0.5
    assert watcher.poll() == []
    clock.now += 0.5
    assert watcher.poll() == [frame]
    clock.now += 5
    assert watcher.poll() == []  # once


def test_integrity_lines_return_frames_at_once(folder: Path) -> None:
    watcher = FolderWatcher(folder, settle=3600.0, clock=FakeClock())
    for name in NAMES[:3]:
        (folder / name).write_bytes(jpeg(1))
    assert watcher.poll() == []
    list_frame(folder, NAMES[0])
    list_frame(folder, NAMES[1])
    assert names(watcher.poll()) == NAMES[:2]
    list_frame(folder, NAMES[2])
    assert names(watcher.poll()) == NAMES[2:3]
    assert watcher.poll() == []


def test_partial_last_line_is_not_taken(folder: Path) -> None:
    watcher = FolderWatcher(folder, settle=3600.0, clock=FakeClock())
    for name in NAMES[:2]:
        (folder / name).write_bytes(jpeg(2))
    line = integrity_line(NAMES[0], (folder / NAMES[0]).read_bytes())
    with open(folder / INTEGRITY_FILE, "a") as f:
        f.write(line[:20])  # the name is already whole, the line is not
    assert watcher.poll() == []
    with open(folder / INTEGRITY_FILE, "a") as f:
        f.write(line[20:])
        f.write(integrity_line(NAMES[1], (folder / NAMES[1]).read_bytes())[:-1])  # no newline
    assert names(watcher.poll()) == NAMES[:1]
    with open(folder / INTEGRITY_FILE, "a") as f:
        f.write("\n")
    assert names(watcher.poll()) == NAMES[1:2]


def test_integrity_check_is_read_from_where_it_stopped(folder: Path) -> None:
    watcher = FolderWatcher(folder, settle=3600.0, clock=FakeClock())
    (folder / NAMES[0]).write_bytes(jpeg(3))
    list_frame(folder, "metadata.json", (folder / "metadata.json").read_bytes())
    list_frame(folder, NAMES[0])
    assert names(watcher.poll()) == NAMES[:1]  # metadata.json is listed but not a frame
    offset = watcher._integrity.offset
    assert offset == (folder / INTEGRITY_FILE).stat().st_size
    (folder / NAMES[1]).write_bytes(jpeg(4))
    list_frame(folder, NAMES[1])
    assert names(watcher.poll()) == NAMES[1:2]
    assert watcher._integrity.offset > offset


def test_settled_frames_never_pass_an_earlier_incomplete_one(folder: Path) -> None:
    clock = FakeClock()
    watcher = FolderWatcher(folder, settle=1.0, clock=clock)
    whole = jpeg(5)
    (folder / NAMES[0]).write_bytes(whole)
    (folder / NAMES[1]).write_bytes(whole[:100])  # still being written
    (folder / NAMES[2]).write_bytes(whole)
    watcher.poll()
    clock.now += 2
    assert names(watcher.poll()) == NAMES[:1]  # 2 is complete, but 1 comes first
    (folder / NAMES[1]).write_bytes(whole)
    clock.now += 2
    assert watcher.poll() == []  # 1 has just changed size
    clock.now += 2
    assert names(watcher.poll()) == NAMES[1:3]


def test_listed_frames_do_not_wait_and_a_poll_is_in_name_order(folder: Path) -> None:
    clock = FakeClock()
    watcher = FolderWatcher(folder, settle=1.0, clock=clock)
    whole = jpeg(6)
    for name in NAMES[:4]:
        (folder / name).write_bytes(whole)
    (folder / NAMES[4]).write_bytes(whole[:100])
    watcher.poll()  # sizes seen; nothing has settled
    clock.now += 2
    list_frame(folder, NAMES[1])  # listed: returned with the settled ones, merged by name
    list_frame(folder, NAMES[3])
    assert names(watcher.poll()) == NAMES[:4]  # 0 and 2 settled, 1 and 3 listed
    (folder / NAMES[5]).write_bytes(whole)
    list_frame(folder, NAMES[5])  # listed: does not wait for the incomplete 4
    assert names(watcher.poll()) == NAMES[5:6]
    assert watcher.out_of_order == []
    assert names(watcher.pending()) == NAMES[4:5]
    assert names(watcher.drain()) == NAMES[4:5]  # the end: the incomplete one too
    assert watcher.drain() == [] and watcher.poll() == []


def test_each_frame_is_returned_once(folder: Path) -> None:
    clock = FakeClock()
    watcher = FolderWatcher(folder, settle=0.0, clock=clock)
    seen: list[str] = []
    for name in NAMES:
        (folder / name).write_bytes(jpeg(7))
        seen += names(watcher.poll())  # settled (settle 0)...
        list_frame(folder, name)
        list_frame(folder, name)  # ... and listed, twice
        seen += names(watcher.poll())
    assert seen == NAMES


def test_a_frame_arriving_after_a_later_named_one_is_flagged(folder: Path) -> None:
    watcher = FolderWatcher(folder, settle=3600.0, clock=FakeClock())
    for name in (NAMES[2], NAMES[1]):
        (folder / name).write_bytes(jpeg(8))
        list_frame(folder, name)
        assert names(watcher.poll()) == [name]
    assert names(watcher.out_of_order) == [NAMES[1]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(6, 6), ("20", 20), (0, None), (-3, None), (True, None), (2.5, None), (None, None)],
)
def test_expected_reads_acq_nb_frame(folder: Path, value: object, expected: int | None) -> None:
    meta = {"acq_id": "A"} | ({} if value is None else {"acq_nb_frame": value})
    (folder / "metadata.json").write_text(json.dumps(meta))
    assert FolderWatcher(folder).expected() == expected


def test_expected_without_metadata_is_none(tmp_path: Path) -> None:
    watcher = FolderWatcher(tmp_path)
    assert watcher.expected() is None
    (tmp_path / "metadata.json").write_text('{"acq_nb_frame": 4}')
    assert watcher.expected() == 4


def test_a_fifo_integrity_check_is_ignored_without_blocking(folder: Path) -> None:
    """Only regular files are read (issue 21): a FIFO's open would wait for a writer."""
    (folder / INTEGRITY_FILE).unlink()
    os.mkfifo(folder / INTEGRITY_FILE)
    (folder / NAMES[0]).write_bytes(jpeg(0))
    clock = FakeClock()
    watcher = FolderWatcher(folder, settle=1.0, clock=clock)
    found: list[list[Path]] = []

    def poll() -> None:
        watcher.poll()
        clock.now += 2
        found.append(watcher.poll())

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    poller.join(30)
    if poller.is_alive():  # release the blocked open so the thread ends
        os.close(os.open(folder / INTEGRITY_FILE, os.O_WRONLY | os.O_NONBLOCK))
        poller.join(10)
        pytest.fail("the watcher blocked on a FIFO integrity.check")
    assert found == [[folder / NAMES[0]]]  # found by the settle rule instead
