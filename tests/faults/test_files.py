"""Files that are not what they seem (issue 21): a FIFO or a deeply nested document as
metadata.json, a FIFO or a huge file as a frame. Each acquisition fails (or frame is
named) with one line; nothing blocks; the acquisitions beside it are segmented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from segmenter import cli
from tests.conftest import MakeAcq
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import Harness, Recorder
from tests.segmenter.service.test_service import segment
from worker.decode import read_frame
from worker.errors import FrameError

ENV = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
NESTED = '{"acq_note": ' + "[" * 100_000 + "]" * 100_000 + "}"  # 200 kB, 100,000 deep


def segment_cli(*args: str, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    """`segmenter segment ... --json` in its own process (a hang fails the test)."""
    proc = subprocess.run(
        [sys.executable, "-m", "segmenter", "segment", *args, "--json", "--workers", "1"],
        env=ENV,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return proc.returncode, json.loads(proc.stdout)


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {Path(a["path"]).name: a for a in result["acquisitions"]}


def two_acquisitions(make_acq: MakeAcq) -> tuple[Path, Path, Path]:
    """(data root, an acquisition to spoil, a good one)."""
    root, bad = make_acq(frames=3, seed=3)
    _, good = make_acq(root, frames=3, seed=4)
    return root, bad, good


def test_fifo_metadata_fails_that_acquisition_without_blocking(make_acq: MakeAcq) -> None:
    root, bad, good = two_acquisitions(make_acq)
    (bad / "metadata.json").unlink()
    os.mkfifo(bad / "metadata.json")
    code, result = segment_cli(str(root / "img"))
    acqs = by_name(result)
    assert code == cli.EXIT_FAILED
    assert acqs[bad.name]["status"] == "failed"
    assert "not a regular file" in acqs[bad.name]["message"]
    assert acqs[good.name]["status"] == "done"


def test_deeply_nested_metadata_fails_that_acquisition(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, bad, good = two_acquisitions(make_acq)
    (bad / "metadata.json").write_text(NESTED)
    code = cli.main(["segment", str(root / "img"), "--json", "--workers", "1"])
    acqs = by_name(json.loads(capsys.readouterr().out))
    assert code == cli.EXIT_FAILED
    assert acqs[bad.name]["status"] == "failed"
    assert "nested too deeply" in acqs[bad.name]["message"]
    assert "\n" not in acqs[bad.name]["message"]
    assert acqs[good.name]["status"] == "done"


@pytest.mark.parametrize("spoil", ["fifo", "nested"])
def test_service_segments_the_good_acquisition_beside_a_bad_metadata(
    harness: Callable[..., Harness],
    copy_acq: CopyAcq,
    recorder: Recorder,
    data_root: Path,
    spoil: str,
) -> None:
    bad, good = copy_acq(frames=3, seed=8), copy_acq(frames=3, seed=9)
    (bad / "metadata.json").unlink()
    if spoil == "fifo":
        os.mkfifo(bad / "metadata.json")
    else:
        (bad / "metadata.json").write_text(NESTED)
    harness()
    recorder.send(segment(data_root / "img", "both"))
    recorder.wait(lambda r: r.state("both") in ("failed", "done"), timeout=60)
    assert (good / "done.txt").exists()
    assert not (bad / "done.txt").exists()
    recorder.send(segment(good, "after", force=True))  # the service goes on
    recorder.wait(lambda r: r.state("after") == "done", timeout=60)


def test_a_fifo_frame_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "frame.jpg"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_frame(fifo)
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(30)
    if reader.is_alive():  # release the blocked open so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
        pytest.fail("read_frame blocked on a FIFO")
    assert isinstance(outcome[0], FrameError)
    assert "not a regular file" in str(outcome[0])


MEASURE = """
import sys
from pathlib import Path
from worker.decode import read_frame
from worker.errors import FrameError
try:
    read_frame(Path(sys.argv[1]))
    print("decoded")
except FrameError as exc:
    print(exc)
status = Path("/proc/self/status").read_text()  # VmHWM: this program's peak (ru_maxrss
print(int(status.split("VmHWM:")[1].split()[0]) // 1024)  # keeps the forking parent's)
"""


@pytest.mark.parametrize("megabytes", [600, 100])
def test_a_huge_frame_is_refused_before_it_is_read(make_acq: MakeAcq, megabytes: int) -> None:
    """A frame file of `megabytes` (sparse: a real 640x480 JPEG header, then zeros) is
    refused from its size and header; the reading process stays far below the file."""
    _, folder = make_acq(frames=1)
    frame = next(folder.glob("*.jpg"))
    with frame.open("r+b") as fh:
        fh.truncate(megabytes * 1_000_000)
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(frame)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    message, peak_mb = proc.stdout.splitlines()
    assert "larger than any frame" in message or "more than its JPEG header" in message
    assert int(peak_mb) < 200, f"peak RSS {peak_mb} MB reading a {megabytes} MB frame"
