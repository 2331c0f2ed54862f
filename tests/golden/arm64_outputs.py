"""Where the x86-64 tests find what the arm64 leg (scripts/arm64.sh) made: the golden TSVs
and the kernel's digests, in the folder SEGMENTER_ARM64_TSV names. scripts/test.sh runs the
leg beside the suite, with `.running` in that folder until the leg has ended: the tests
that compare with its outputs wait for it there."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ARM64_TSV = "SEGMENTER_ARM64_TSV"  # where this run finds the leg's outputs
RUNNING = ".running"  # present while the leg is still running (scripts/test.sh)
WAIT_S = 1800.0  # the leg takes a few minutes on 2 cores; CI's whole budget is 90


def arm64_outputs() -> Path:
    """The leg's folder once the leg has ended; a skip when none is given (under CI=true
    tests/ci_skips.py makes that a failure)."""
    folder = os.environ.get(ARM64_TSV)
    if not folder:
        pytest.skip(f"{ARM64_TSV} is not set: scripts/test.sh runs the arm64 leg, sets it")
    path = Path(folder)
    deadline = time.monotonic() + WAIT_S
    while (path / RUNNING).exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the arm64 leg has not ended after {WAIT_S:.0f} s ({path / RUNNING})")
        time.sleep(1.0)
    return path
