"""The bad-input catalogue: malformed metadata.json stops an acquisition before any work
with one line naming the problem; bad frames are named and skipped, the rest archived."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from segmenter import cli
from tests.conftest import MakeAcq, archive_content
from worker.decode import read_frame


def run(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = cli.main(["segment", str(folder), "--json", "--workers", "2"])
    return code, json.loads(capsys.readouterr().out)["acquisitions"][0]


def set_metadata(folder: Path, text: str) -> None:
    (folder / "metadata.json").write_text(text, encoding="utf-8")


def meta(folder: Path, **changes: object) -> str:
    meta = json.loads((folder / "metadata.json").read_text()) | changes
    return json.dumps(meta, ensure_ascii=False)  # allow_nan: -Infinity as Python writes it


METADATA_CASES: dict[str, tuple[Any, str]] = {
    "not JSON": (lambda f: '{"sample_id": "a",', "is not readable JSON"),
    "not an object": (lambda f: "[1, 2, 3]", "must hold a JSON object, not list"),
    "huge": (lambda f: meta(f, sample_note="x" * 1_100_000), "larger than 1000000 bytes"),
    "-inf": (lambda f: meta(f, sample_depth=float("-inf")), "'sample_depth': -inf is not a finite"),
    "NaN": (lambda f: meta(f, acq_volume=float("nan")), "'acq_volume': nan is not a finite"),
    "newline": (lambda f: meta(f, sample_op="Ann\nBob"), "'sample_op': tab or line break"),
    "tab": (lambda f: meta(f, sample_op="Ann\tBob"), "'sample_op': tab or line break"),
    "long text": (lambda f: meta(f, sample_note="é" * 251), "251 characters, EcoTaxa's limit"),
    "nested": (lambda f: meta(f, acq_camera={"model": "HQ"}), "'acq_camera': nested dict"),
    "acq_id a path": (lambda f: meta(f, acq_id="../x"), "cannot be used in a file name"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(METADATA_CASES))
def test_bad_metadata_fails_before_any_work(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    root, folder = make_acq(frames=3)
    make_text, expected = METADATA_CASES[case]
    set_metadata(folder, make_text(folder))
    code, acq = run(folder, capsys)
    assert code == cli.EXIT_FAILED and acq["status"] == "failed"
    assert expected in acq["message"]
    assert "\n" not in acq["message"]
    assert not (root / "objects").exists() and not (root / "export").exists()
    assert not (folder / "done.txt").exists()


def jpeg_claiming(width: int, height: int, source: bytes) -> bytes:
    """`source` (a real JPEG) with its frame header rewritten to claim width x height."""
    data = bytearray(source)
    pos = 2
    while data[pos] == 0xFF and data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    data[pos + 5 : pos + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gray_jpeg(path: Path) -> bytes:
    gray = cv2.cvtColor(read_frame(path), cv2.COLOR_BGR2GRAY)
    return bytes(cv2.imencode(".jpg", gray)[1])


def png_bytes(path: Path) -> bytes:
    return bytes(cv2.imencode(".png", read_frame(path))[1])


FRAME_CASES: dict[str, tuple[Any, str]] = {
    "empty": (lambda p: b"", "the file is empty"),
    "not an image": (lambda p: b"hello, I am text\n" * 10, "not a JPEG file"),
    "PNG named .jpg": (png_bytes, "not a JPEG file"),
    "truncated": (lambda p: p.read_bytes()[:2000], "truncated JPEG"),
    "corrupt header": (lambda p: p.read_bytes()[:2] + bytes(400) + p.read_bytes()[402:], "corrupt"),
    "decompression bomb": (
        lambda p: jpeg_claiming(30000, 30000, p.read_bytes()),
        "30000x30000 is too large to decode safely",
    ),
}


@pytest.mark.parametrize("position", [2, 10])  # inside the flat-field window and after it
@pytest.mark.parametrize("case", list(FRAME_CASES))
def test_bad_frame_is_named_and_the_rest_archived(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str], case: str, position: int
) -> None:
    _, folder = make_acq(frames=12)
    victim = sorted(folder.glob("*.jpg"))[position]
    make_bytes, expected = FRAME_CASES[case]
    victim.write_bytes(make_bytes(victim))
    code, acq = run(folder, capsys)
    assert code == cli.EXIT_OK and acq["status"] == "done"
    assert [f["name"] for f in acq["failed_frames"]] == [victim.name]
    assert expected in acq["failed_frames"][0]["reason"]
    rows, crops = archive_content(Path(acq["archive"]))
    assert rows and len(crops) == len(rows)
    assert not any(r["object_id"].startswith(victim.stem + "_") for r in rows)


def test_grayscale_frame_is_segmented_as_color(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = make_acq(frames=6)
    victim = sorted(folder.glob("*.jpg"))[4]
    victim.write_bytes(gray_jpeg(victim))
    code, acq = run(folder, capsys)
    assert code == cli.EXIT_OK and acq["failed_frames"] == []


def test_files_that_are_not_frames_are_ignored(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = make_acq(frames=4)
    first = sorted(folder.glob("*.jpg"))[0]
    (folder / "extra.png").write_bytes(png_bytes(first))
    (folder / ".hidden.jpg").write_bytes(first.read_bytes())
    (folder / "notes.txt").write_text("hello")
    code, acq = run(folder, capsys)
    assert code == cli.EXIT_OK and acq["frames"] == 4


def test_every_frame_bad_fails_clearly(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=3)
    for frame in folder.glob("*.jpg"):
        frame.write_bytes(b"")
    code, acq = run(folder, capsys)
    assert code == cli.EXIT_FAILED
    assert "readable JPEG header" in acq["message"] or "could be decoded" in acq["message"]
    assert not (folder / "done.txt").exists()
    del root


def test_upper_case_suffix_is_a_frame(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = make_acq(frames=4)
    for frame in sorted(folder.glob("*.jpg"))[:2]:
        frame.rename(frame.with_suffix(".JPEG"))
    code, acq = run(folder, capsys)
    assert code == cli.EXIT_OK and acq["frames"] == 4
    assert np.isfinite(acq["seconds"])
