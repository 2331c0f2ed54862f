"""worker.hsv against OpenCV's BGR2HSV, and OpenCV's BGR2GRAY, on all 2^24 colours.

A 4096x4096 image holds each BGR colour once. On x86-64 (the baseline's machine) the
integer formulation equals `cv2.cvtColor` on all of them, and so does OpenCV with its
SIMD dispatch cut to the SSE3 baseline and Intel IPP off or at SSE4.2: x86-64 OpenCV does
not vary with the CPU. The planes' digest is x86-64 OpenCV's; on any CPU the integer
formulation must give it (on an emulated Cortex-A76 or A72, OpenCV's own S differs on
6,582 colours, which is why the engine does not use it). The gray the engine takes from
OpenCV (integer fixed point) must give x86-64 OpenCV's digest on every CPU as it is."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import pytest

from benchmark import old_method
from tests.conftest import REPO
from worker.hsv import bgr_to_hsv

X86 = platform.machine().lower() in {"x86_64", "amd64"}
# sha256 of x86-64 OpenCV's H, S and V planes of every_colour(), each plane's bytes in turn.
X86_OPENCV_DIGEST = "d31868389bd2a3b29a46608c1059a1ccb2b58a1a78c9df254271e37b9f513a84"
X86_GRAY_DIGEST = "3c80968f423de2e04f9deea327c161ad8cae30bbb4ea18781f613f766637fe0a"
ROWS = 512  # strips of the image, to keep the intermediates small


def every_colour() -> np.ndarray:
    """4096x4096 BGR image: pixel k has blue k >> 16, green (k >> 8) & 255, red k & 255."""
    k = np.arange(1 << 24, dtype=np.uint32)
    planes = [(k >> 16).astype(np.uint8), (k >> 8).astype(np.uint8), k.astype(np.uint8)]
    return np.stack(planes, axis=-1).reshape(4096, 4096, 3)


def planes_digest(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> str:
    sha = hashlib.sha256()
    for plane in (h, s, v):
        sha.update(np.ascontiguousarray(plane).tobytes())
    return sha.hexdigest()


def by_strips(
    convert: Callable[[np.ndarray], Sequence[np.ndarray]], image: np.ndarray
) -> tuple[np.ndarray, ...]:
    strips = [convert(image[y : y + ROWS]) for y in range(0, image.shape[0], ROWS)]
    return tuple(np.concatenate([strip[k] for strip in strips]).astype(np.uint8) for k in range(3))


def ours(image: np.ndarray) -> tuple[np.ndarray, ...]:
    return by_strips(bgr_to_hsv, image)


def test_every_colour_gives_x86_opencvs_hsv() -> None:
    image = every_colour()
    h, s, v = ours(image)
    if X86:
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        for k, plane in enumerate((h, s, v)):
            assert np.array_equal(plane, hsv[:, :, k]), f"channel {'HSV'[k]}"
    assert planes_digest(h, s, v) == X86_OPENCV_DIGEST


def test_the_old_methods_transcription_gives_x86_opencvs_hsv() -> None:
    """benchmark.old_method's own transcription of the formula, used off x86-64."""
    assert planes_digest(*by_strips(old_method._x86_hsv, every_colour())) == X86_OPENCV_DIGEST


def test_opencvs_gray_of_every_colour_is_x86_opencvs() -> None:
    gray = cv2.cvtColor(every_colour(), cv2.COLOR_BGR2GRAY)
    assert hashlib.sha256(gray.tobytes()).hexdigest() == X86_GRAY_DIGEST


_CV2_DIGESTS = """
import hashlib
import cv2
from tests.worker.test_hsv import every_colour, planes_digest
image = every_colour()
hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
print(planes_digest(hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]))
print(hashlib.sha256(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).tobytes()).hexdigest())
"""
_ALL_DISPATCH = "SSE4.1,SSE4.2,AVX,FP16,AVX2,AVX_VNNI,AVX512-SKX,AVX512-CLX"


if X86:  # OpenCV's x86-64 dispatch levels (elsewhere the test does not exist, not skipped)

    @pytest.mark.parametrize("ipp", ["disabled", "sse42"])
    def test_x86_opencvs_hsv_and_gray_are_the_same_at_every_dispatch_level(ipp: str) -> None:
        env = os.environ | {"OPENCV_CPU_DISABLE": _ALL_DISPATCH, "OPENCV_IPP": ipp}
        out = subprocess.run(
            [sys.executable, "-c", _CV2_DIGESTS],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.split() == [X86_OPENCV_DIGEST, X86_GRAY_DIGEST]
