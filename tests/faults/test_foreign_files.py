"""Files this program did not write are never deleted or overwritten (issue 21 point 1),
also when objects/<rel>, export/ecotaxa or clean/<rel> is a symlink to another folder
(the data on a USB disk): symlinked folders are followed; a file of ours is replaced or
removed only when the journal or the outputs record says we wrote it; an unknown file
under one of our output names fails the acquisition with one line, before any work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from segmenter import cli
from tests.conftest import MakeAcq

Capsys = pytest.CaptureFixture[str]


def segment(folder: Path, capsys: Capsys, *extra: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(["segment", str(folder), "--json", "--workers", "1", *extra])
    return code, json.loads(capsys.readouterr().out)["acquisitions"][0]


def linked(root: Path, link: Path, name: str) -> Path:
    """Make `link` a symlink to a new folder `root/../<name>`; return that folder."""
    target = root.parent / name
    target.mkdir()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return target


def foreign_files(folder: Path) -> dict[Path, bytes]:
    files = {
        folder / "holiday.jpg": b"\xff\xd8 a photograph \xff\xd9",
        folder / "table.tsv": b"a\tb\n",
        folder / "ecotaxa_other.tsv": b"x\ty\n",
        folder / ".segmenter" / "important": b"keep me",
        folder / ".notes.tmp": b"mine",
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def assert_kept(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        assert path.read_bytes() == data, path


def test_a_symlinked_objects_folder_keeps_what_it_held(make_acq: MakeAcq, capsys: Capsys) -> None:
    root, folder = make_acq(frames=4)
    rel = folder.relative_to(root / "img")
    usb = linked(root, root / "objects" / rel, "usb")
    files = foreign_files(usb)
    code, acq = segment(folder, capsys)
    assert code == cli.EXIT_OK and acq["status"] == "done", acq
    assert len(list(usb.glob("*_*.jpg"))) == acq["objects"]  # followed: the crops are there
    assert_kept(files)
    (folder / "done.txt").unlink()
    code, acq = segment(folder, capsys, "--min-esd", "30")  # other settings: starts over
    assert code == cli.EXIT_OK and acq["status"] == "done", acq
    assert_kept(files)
    code, acq = segment(folder, capsys, "--force")
    assert code == cli.EXIT_OK and acq["status"] == "done", acq
    assert_kept(files)
    assert cli.main(["export", str(folder)]) == cli.EXIT_OK
    assert_kept(files)


def test_a_crop_name_we_did_not_write_is_refused(make_acq: MakeAcq, capsys: Capsys) -> None:
    root, folder = make_acq(frames=4)
    objects = root / "objects" / folder.relative_to(root / "img")
    objects.mkdir(parents=True)
    first = sorted(folder.glob("*.jpg"))[0]
    theirs = objects / f"{first.stem}_0.jpg"  # a name our crops take, written by another
    theirs.write_bytes(b"not ours")
    code, acq = segment(folder, capsys)
    assert code == cli.EXIT_FAILED and acq["status"] == "failed"
    assert str(theirs) in acq["message"] and "\n" not in acq["message"]
    assert theirs.read_bytes() == b"not ours"


def test_an_archive_we_did_not_write_is_not_overwritten(make_acq: MakeAcq, capsys: Capsys) -> None:
    root, folder = make_acq(frames=4)
    usb = linked(root, root / "export" / "ecotaxa", "usb_export")
    theirs = usb / "ecotaxa_synth_s3_synth_a3.zip"  # the name ours would have (SPEC 7)
    theirs.write_bytes(b"an archive from elsewhere")
    other = usb / "ecotaxa_another.zip"
    other.write_bytes(b"another")
    for extra in ((), ("--force",)):
        code, acq = segment(folder, capsys, *extra)
        assert code == cli.EXIT_FAILED and acq["status"] == "failed"
        assert str(root / "export" / "ecotaxa" / theirs.name) in acq["message"]
        assert "did not write" in acq["message"] and "\n" not in acq["message"]
        assert theirs.read_bytes() == b"an archive from elsewhere"
        assert not (folder / "done.txt").exists()
    theirs.rename(usb / "moved_away.zip")  # what the message asks
    code, acq = segment(folder, capsys)
    assert code == cli.EXIT_OK and acq["status"] == "done", acq
    assert theirs.exists() and other.read_bytes() == b"another"
    code, acq = segment(folder, capsys, "--force")  # ours now: replaced
    assert code == cli.EXIT_OK and acq["status"] == "done", acq


def test_a_symlinked_clean_folder(make_acq: MakeAcq, capsys: Capsys) -> None:
    root, folder = make_acq(frames=4)
    rel = folder.relative_to(root / "img")
    usb = linked(root, root / "clean" / rel, "usb_clean")
    notes = usb / "notes.txt"
    notes.write_text("mine")
    theirs = usb / "flat_color.jpg"
    theirs.write_bytes(b"their flat")
    code, acq = segment(folder, capsys, "--keep")
    assert (
        code == cli.EXIT_FAILED and str(root / "clean" / rel / "flat_color.jpg") in acq["message"]
    )
    assert theirs.read_bytes() == b"their flat"
    theirs.unlink()
    code, acq = segment(folder, capsys, "--keep")
    assert code == cli.EXIT_OK and acq["status"] == "done", acq
    assert theirs.read_bytes()[:2] == b"\xff\xd8" and notes.read_text() == "mine"


def test_a_crop_a_killed_run_left_unnamed_is_removed(make_acq: MakeAcq, capsys: Capsys) -> None:
    """A frame's crops are written before its line: a kill between them leaves crops no
    line names. Beside our run.json they are ours, and the next run removes them."""
    root, folder = make_acq(frames=4)
    code, _ = segment(folder, capsys)
    objects = root / "objects" / folder.relative_to(root / "img")
    first = sorted(folder.glob("*.jpg"))[0]
    left = objects / f"{first.stem}_99.jpg"
    left.write_bytes(b"\xff\xd8 a crop \xff\xd9")
    kept = objects / "holiday_1.jpg"
    kept.write_bytes(b"mine")
    (folder / "done.txt").unlink()
    code, acq = segment(folder, capsys)
    assert code == cli.EXIT_OK and acq["status"] == "done", acq
    assert not left.exists() and kept.read_bytes() == b"mine"
