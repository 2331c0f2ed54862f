"""The command line as a user meets it: what a skipped acquisition reports, one line per
failure, options after the sub-command, help and defaults on every option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from segmenter import cli
from tests.conftest import MakeAcq


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
