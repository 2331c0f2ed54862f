"""The arm64 leg's outputs (scripts/arm64.sh, run by scripts/test.sh beside the suite)
against this machine's: the digests of every output of the per-frame kernel
(tests/golden/cpu_digest.py: features of random regions, whole frames, masks, crop JPEGs) made on
emulated Cortex-A76 and Cortex-A72 are x86-64's. The golden TSVs are compared in
tests/golden/test_golden.py. x86-64 only: elsewhere this test does not exist (not skipped)."""

from __future__ import annotations

import json
import platform

import pytest

from tests.golden.arm64_outputs import arm64_outputs
from tests.golden.cpu_digest import digests

CPUS = ("cortex-a76", "cortex-a72")

if platform.machine() == "x86_64":

    @pytest.fixture(scope="module")
    def ours() -> dict[str, str]:
        return digests()  # once, and before waiting for the leg

    @pytest.mark.parametrize("cpu", CPUS)
    def test_kernel_digests_equal_on_arm64(cpu: str, ours: dict[str, str]) -> None:
        made = arm64_outputs() / cpu / "cpu_digest.json"
        assert made.is_file(), f"the arm64 leg made no {made}"
        theirs = json.loads(made.read_text())["digests"]
        assert len(ours) > 50
        different = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        assert different == [], f"{cpu}: outputs whose digests differ from x86-64's"
