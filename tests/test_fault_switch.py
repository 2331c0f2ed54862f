"""The fault-injection hook of the test suite is not a production feature: outside the
test suite (no `allow_test_faults()` call) SEGMENTER_TEST_FAULTS changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import MakeAcq

REPO = Path(__file__).resolve().parents[1]


def test_the_fault_variable_is_ignored_outside_the_test_suite(make_acq: MakeAcq) -> None:
    _, folder = make_acq(frames=4)
    victim = sorted(folder.glob("*.jpg"))[1].name
    env = os.environ | {"SEGMENTER_TEST_FAULTS": f"raise:{victim}", "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "segmenter", "segment", str(folder), "--json", "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    (acq,) = json.loads(run.stdout)["acquisitions"]
    assert acq["status"] == "done" and acq["failed_frames"] == []
    assert "SEGMENTER_TEST_FAULTS is set and ignored" in run.stderr
