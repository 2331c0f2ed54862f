"""The per-frame kernel's outputs do not depend on the CPU's instruction set.

On one x86-64 machine the libraries can be told to run the code paths of older or other
CPUs: OpenBLAS's kernel (OPENBLAS_CORETYPE), numpy's SIMD targets
(NPY_DISABLE_CPU_FEATURES), OpenCV's dispatch and Intel IPP (OPENCV_CPU_DISABLE,
OPENCV_IPP), libjpeg-turbo's SIMD (JSIMD_FORCE*) and glibc's libm variants with or
without FMA (GLIBC_TUNABLES). Each output of tests/cpu_digest.py (every feature, the
masks, the crop JPEGs, the decoded frames) must be the same bytes as with the machine's
own choice. skimage's moments (OpenBLAS, LAPACK) and libm's atan2 fail this; the
emulated arm64 leg checks the other architecture. x86-64 only: elsewhere these tests
do not exist (not skipped)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.cpu_digest import digests
from tests.test_hsv import X86

_OPENCV_ALL = "SSE4.1,SSE4.2,AVX,FP16,AVX2,AVX_VNNI,AVX512-SKX,AVX512-CLX"
_NUMPY_AVX512 = "AVX512F,AVX512CD,AVX512_SKX,AVX512_CLX,AVX512_CNL,AVX512_ICL,AVX512_SPR"
VARIANTS = {
    # the oldest x86-64: no AVX anywhere, no FMA in libm
    "sse": {
        "OPENBLAS_CORETYPE": "Prescott",
        "NPY_DISABLE_CPU_FEATURES": f"{_NUMPY_AVX512},AVX2,FMA3,F16C,AVX",
        "OPENCV_CPU_DISABLE": _OPENCV_ALL,
        "OPENCV_IPP": "disabled",
        "JSIMD_FORCENONE": "1",
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX2,-FMA,-AVX",
    },
    # an AVX2 machine without AVX-512
    "avx2": {
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512,
        "OPENCV_CPU_DISABLE": "AVX512-SKX,AVX512-CLX",
        "OPENCV_IPP": "avx2",
        "JSIMD_FORCEAVX2": "1",
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F",
    },
}


def digests_with(env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.cpu_digest"],
        env=os.environ | env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, str] = json.loads(out.stdout.splitlines()[-1])
    return result


if X86:

    @pytest.fixture(scope="module")
    def own() -> dict[str, str]:
        return digests()

    @pytest.mark.parametrize("variant", sorted(VARIANTS))
    def test_kernel_outputs_equal_with_another_cpus_code_paths(
        own: dict[str, str], variant: str
    ) -> None:
        other = digests_with(VARIANTS[variant])
        assert len(own) > 60
        assert [name for name in own if other.get(name) != own[name]] == []
