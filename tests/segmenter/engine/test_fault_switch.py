"""The fault-injection hook of the test suite is not a production feature: outside the
test suite (no `allow_test_faults()` call) SEGMENTER_TEST_FAULTS changes nothing; in it,
the faults are parsed once (worker.faults) and a misspelt one is refused."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest

from segmenter.engine.pool import WorkerPool
from tests.conftest import REPO, MakeAcq
from worker.faults import FaultPlan, parse_faults


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


def test_a_misspelt_fault_is_refused_when_the_pool_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fault the workers would not recognise used to inject nothing, silently: a test
    built on it proved nothing. It is parsed once, in the parent, and refused."""
    for spec in ("kil:frame_1.jpg:marker", "kill:frame_1.jpg", "raise"):
        monkeypatch.setenv("SEGMENTER_TEST_FAULTS", spec)
        with pytest.raises(ValueError, match="SEGMENTER_TEST_FAULTS"):
            WorkerPool(1).close()


def test_the_faults_are_parsed_once_and_handed_to_the_workers_as_a_plan() -> None:
    plan = parse_faults("raise:a.jpg;kill:b.jpg:/m;killflat:c.jpg:/n;killmedian:median:/o")
    assert plan is not None and isinstance(plan, FaultPlan)
    assert parse_faults(None) is None and parse_faults("") is None
    assert pickle.loads(pickle.dumps(plan)) == plan  # it crosses to the workers
