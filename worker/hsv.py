"""OpenCV's 8-bit BGR to HSV (H in 0..179), in exact integers, the same on every CPU.

`cv2.cvtColor(COLOR_BGR2HSV)` is not: on aarch64 the wheel gives an S that differs from
x86-64's on 6,582 of the 2^24 colours. x86-64 gives the scalar formula of OpenCV's
`RGB2HSV_b` (its SIMD path and Intel IPP's, at every dispatch level, agree with it on
all 2^24 colours: tests/worker/test_hsv.py), which is what this computes:

    v = max(b, g, r), diff = v - min(b, g, r)
    s = (diff * sdiv[v] + 2^11) >> 12                  sdiv[i] = round(255 * 2^12 / i)
    h = (num * hdiv[diff] + 2^11) >> 12, + 180 if < 0  hdiv[i] = round(180 * 2^12 / (6 i))
    num = g - b if v == r, else b - r + 2 diff if v == g, else r - g + 4 diff

S is read from a table indexed by (v, diff); H, which depends on the colour only through
the differences g - b and b - r, from a table indexed by them. Both tables hold the
formula's value for every index, built once in integers; the per-pixel work is
deinterleaving, uint8 maxima and minima, integer index arithmetic and two gathers.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
_SHIFT = 12
_SPAN = 511  # g - b and b - r each range over -255 .. 255
_H_ORIGIN = 255 * _SPAN + 255  # the H table's index of g - b = b - r = 0


def _divisors(scale: int, per: float) -> I64:
    """OpenCV's `saturate_cast<int>((scale << 12) / (per * i))` for i in 1..255, 0 at 0:
    a double quotient rounded half to even (IEEE operations, the same everywhere)."""
    out = np.zeros(256, np.int64)
    out[1:] = np.rint((scale << _SHIFT) / (per * np.arange(1, 256, dtype=np.float64)))
    return out


def _hue(b: I64, g: I64, r: I64) -> I64:
    """The formula's H for integer channels (any integers: it uses only differences)."""
    v = np.maximum(np.maximum(b, g), r)
    diff = v - np.minimum(np.minimum(b, g), r)
    num = np.where(v == r, g - b, np.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    hdiv = _divisors(180, 6.0)[np.minimum(diff, 255)]  # diff > 255: no colour has it
    h: I64 = (num * hdiv + (1 << (_SHIFT - 1))) >> _SHIFT
    h += np.where(h < 0, 180, 0)
    return h


@lru_cache(maxsize=1)
def tables() -> tuple[U8, U8]:
    """The S table indexed by `v << 8 | diff`; the H table by
    `(g - b) * 511 + (b - r) + _H_ORIGIN`."""
    v, diff = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    s = (diff * _divisors(255, 1.0)[v] + (1 << (_SHIFT - 1))) >> _SHIFT
    gb, br = np.meshgrid(np.arange(-255, 256), np.arange(-255, 256), indexing="ij")
    h = _hue(br, gb + br, np.zeros_like(gb))  # r = 0, b = br, g = gb + br
    s_table = np.clip(s, 0, 255).astype(np.uint8).reshape(-1)
    h_table = np.clip(h, 0, 255).astype(np.uint8).reshape(-1)
    s_table.setflags(write=False)
    h_table.setflags(write=False)
    return s_table, h_table


def bgr_to_hsv(bgr: U8) -> tuple[U8, U8, U8]:
    """H, S and V planes of a BGR uint8 image (height x width x 3), as x86-64 OpenCV."""
    s_table, h_table = tables()
    b, g, r = cv2.split(bgr)  # contiguous planes: a copy, exact
    v = np.maximum(np.maximum(b, g), r)
    diff = v - np.minimum(np.minimum(b, g), r)
    s_index = np.left_shift(v, 8, dtype=np.uint16)
    s_index |= diff
    # int32 differences by OpenCV (exact, like every step here), then int32 numpy
    # arithmetic: same-type loops, ~30% faster than the mixed uint8 / intp ones
    h_index = np.asarray(cv2.subtract(g, b, dtype=cv2.CV_32S), np.int32)
    h_index *= _SPAN
    h_index += np.asarray(cv2.subtract(b, r, dtype=cv2.CV_32S), np.int32)
    h_index += _H_ORIGIN
    h = np.take(h_table, h_index, mode="clip")  # every index is in range: no check
    s = np.take(s_table, s_index, mode="clip")
    return h, s, v
