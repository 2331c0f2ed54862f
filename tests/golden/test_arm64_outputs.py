"""The arm64 comparisons wait for the leg that scripts/test.sh runs beside the suite."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.golden import arm64_outputs
from tests.golden.arm64_outputs import ARM64_TSV, RUNNING


def test_waits_while_the_leg_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ARM64_TSV, str(tmp_path))
    (tmp_path / RUNNING).touch()
    ended = threading.Event()

    def leg_ends() -> None:
        (tmp_path / "cortex-a76").mkdir()  # what the leg writes before it ends
        (tmp_path / RUNNING).unlink()
        ended.set()

    timer = threading.Timer(0.5, leg_ends)
    timer.start()
    try:
        assert arm64_outputs.arm64_outputs() == tmp_path
        assert ended.is_set() and (tmp_path / "cortex-a76").is_dir()
    finally:
        timer.cancel()


def test_a_leg_that_does_not_end_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ARM64_TSV, str(tmp_path))
    monkeypatch.setattr(arm64_outputs, "WAIT_S", 0.2)
    (tmp_path / RUNNING).touch()
    with pytest.raises(pytest.fail.Exception, match="has not ended"):
        arm64_outputs.arm64_outputs()


def test_no_folder_is_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    """A skip, which under CI=true tests/ci_skips.py turns into a failure."""
    monkeypatch.delenv(ARM64_TSV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="not set"):
        arm64_outputs.arm64_outputs()
