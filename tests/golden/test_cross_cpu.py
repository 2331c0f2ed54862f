"""The per-frame kernel's outputs do not depend on the CPU's instruction set.

On one x86-64 machine the libraries can be told to run the code paths of older or other
CPUs: OpenBLAS's kernel (OPENBLAS_CORETYPE), numpy's SIMD targets
(NPY_DISABLE_CPU_FEATURES), OpenCV's dispatch and Intel IPP (OPENCV_CPU_DISABLE,
OPENCV_IPP) and glibc's libm variants with or without FMA (GLIBC_TUNABLES). Each output
of tests/golden/cpu_digest.py (every feature, the masks, the crop JPEGs, the decoded frames)
must be the same bytes as with the machine's own choice, and numpy and OpenCV must
report the code paths asked for. skimage's moments (OpenBLAS) fail this. libjpeg-turbo,
as built into OpenCV, reads no JSIMD_* variable: its SIMD paths are compared by the
emulated arm64 runs (NEON against this machine's AVX2). x86-64 only: elsewhere these
tests do not exist (not skipped)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.golden.cpu_digest import digests
from tests.worker.test_hsv import X86

_OPENCV_ALL = "SSE4.1,SSE4.2,AVX,FP16,AVX2,AVX_VNNI,AVX512-SKX,AVX512-CLX"
_NUMPY_AVX512 = "X86_V4,AVX512_ICL,AVX512_SPR"  # numpy 2.4's names for its targets
VARIANTS = {
    # the oldest x86-64: no AVX anywhere, no FMA in libm
    "sse": {
        "OPENBLAS_CORETYPE": "Prescott",
        "NPY_DISABLE_CPU_FEATURES": f"{_NUMPY_AVX512},X86_V3",
        "OPENCV_CPU_DISABLE": _OPENCV_ALL,
        "OPENCV_IPP": "disabled",
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX2,-FMA,-AVX",
    },
    # an AVX2 machine without AVX-512
    "avx2": {
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512,
        "OPENCV_CPU_DISABLE": "AVX512-SKX,AVX512-CLX",
        "OPENCV_IPP": "avx2",
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F",
    },
}


def run_digest(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(code paths, digests) of tests/golden/cpu_digest.py in a process with `env` added."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.golden.cpu_digest"],
        env=os.environ | env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.splitlines()[-1])
    return result["paths"], result["digests"]


def assert_paths_honour(env: dict[str, str], paths: dict[str, str]) -> None:
    """numpy runs none of the disabled targets; OpenCV marks every disabled feature it
    has as disabled (`?`); IPP is off when asked."""
    assert paths["numpy"] not in env["NPY_DISABLE_CPU_FEATURES"].split(","), paths
    features = paths["opencv"].split()
    for name in env["OPENCV_CPU_DISABLE"].split(","):
        assert f"*{name}" not in features, (name, paths)
    assert (paths["ipp"] == "False") == (env["OPENCV_IPP"] == "disabled"), paths


if X86:

    @pytest.fixture(scope="module")
    def own() -> dict[str, str]:
        return digests()

    @pytest.mark.parametrize("variant", sorted(VARIANTS))
    def test_kernel_outputs_equal_with_another_cpus_code_paths(
        own: dict[str, str], variant: str
    ) -> None:
        paths, other = run_digest(VARIANTS[variant])
        assert_paths_honour(VARIANTS[variant], paths)
        assert len(own) > 60
        assert [name for name in own if other.get(name) != own[name]] == []
