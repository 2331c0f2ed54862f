"""What a SIGKILL leaves is cleaned or completed by the next run (issue 21 point 8): the
temporaries of a killed `segmenter export`, and a report killed half-way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from segmenter import cli
from tests.conftest import MakeAcq

ENV = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}

KILLED_WRITING = """
import os, signal, sys
from pathlib import Path
from streamer.files import replacing
with replacing(Path(sys.argv[1])) as tmp:
    tmp.write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGKILL)
"""

KILLED_IN_REPORT = """
import os, signal, sys
from streamer.report import spectrum
import pytest

from segmenter import cli
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the mosaic is written, spectrum and summary not
spectrum.render_png = killed
cli.main(["segment", sys.argv[1], "--workers", "1"])
"""


def python(code: str, *args: str) -> int:
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=ENV, timeout=120, check=False
    ).returncode


def test_a_killed_export_leaves_nothing_after_the_next_export(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=3)
    assert cli.main(["segment", str(folder), "--workers", "1"]) == cli.EXIT_OK
    archive = next((root / "export" / "ecotaxa").glob("ecotaxa_*.zip"))
    tsv = next((root / "objects").rglob("ecotaxa_*.tsv"))
    for path in (archive, tsv):  # `segmenter export` SIGKILLed while writing each
        assert python(KILLED_WRITING, str(path)) == -9
    left = [*archive.parent.glob(".*.tmp"), *tsv.parent.glob(".*.tmp")]
    assert len(left) == 2
    foreign = archive.parent / ".notes.tmp"  # not a name this program gives
    foreign.write_text("mine")
    assert cli.main(["export", str(folder)]) == cli.EXIT_OK
    assert not any(p.exists() for p in left)
    assert foreign.read_text() == "mine"
    capsys.readouterr()


def test_a_report_killed_half_way_is_completed_by_the_next_run(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=3)
    assert python(KILLED_IN_REPORT, str(folder)) == -9
    export = root / "export" / "ecotaxa"
    assert list(export.glob("mosaic_*.jpg")) and not list(export.glob("summary_*.json"))
    code = cli.main(["segment", str(folder), "--workers", "1", "--json"])
    acq = json.loads(capsys.readouterr().out)["acquisitions"][0]
    assert code == cli.EXIT_OK and acq["status"] == "done", acq
    assert list(export.glob("summary_*.json")) and list(export.glob("size_spectrum_*.png"))
    assert (folder / "done.txt").exists()
