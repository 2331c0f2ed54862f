"""OpenCV's 8-bit BGR to HSV (H in 0..179), in exact integers, the same on every CPU.

`cv2.cvtColor(COLOR_BGR2HSV)` is not: on aarch64 the wheel's own HAL gives an S one
higher or lower than x86-64's on about 1 pixel in 2,400. x86-64 gives the scalar
formula of OpenCV's `RGB2HSV_b` (its SIMD path and Intel IPP's, at every dispatch
level, agree with it on all 2^24 colours: tests/test_hsv.py), which is what this
computes, with numpy integer operations only:

    v = max(b, g, r), diff = v - min(b, g, r)
    s = (diff * sdiv[v] + 2^11) >> 12                  sdiv[i] = round(255 * 2^12 / i)
    h = (num * hdiv[diff] + 2^11) >> 12, + 180 if < 0  hdiv[i] = round(180 * 2^12 / (6 i))
    num = g - b if v == r, else b - r + 2 diff if v == g, else r - g + 4 diff

Both are read from tables indexed by (v, diff) and (num, diff), built once from the
formula; a table entry is the formula's value for its index, and every index holds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
_SHIFT = 12
_NUM_LOW = -255  # num ranges over -255 .. 5 * 255


def _divisors(scale: int, per: float) -> npt.NDArray[np.int64]:
    """OpenCV's `saturate_cast<int>((scale << 12) / (per * i))` for i in 1..255, 0 at 0:
    a double quotient rounded half to even (IEEE operations, the same everywhere)."""
    out = np.zeros(256, np.int64)
    out[1:] = np.rint((scale << _SHIFT) / (per * np.arange(1, 256, dtype=np.float64)))
    return out


@lru_cache(maxsize=1)
def tables() -> tuple[U8, U8]:
    """The S table indexed by `v << 8 | diff` and the H table by `(num + 255) << 8 | diff`."""
    half = 1 << (_SHIFT - 1)
    diff = np.arange(256, dtype=np.int64)
    s = (diff[None, :] * _divisors(255, 1.0)[:, None] + half) >> _SHIFT  # row: v
    num = np.arange(_NUM_LOW, 5 * 255 + 1, dtype=np.int64)
    h = (num[:, None] * _divisors(180, 6.0)[None, :] + half) >> _SHIFT  # row: num
    h += np.where(h < 0, 180, 0)
    s_table = np.clip(s, 0, 255).astype(np.uint8).reshape(-1)
    h_table = np.clip(h, 0, 255).astype(np.uint8).reshape(-1)
    s_table.setflags(write=False)
    h_table.setflags(write=False)
    return s_table, h_table


def bgr_to_hsv(bgr: U8) -> tuple[U8, U8, U8]:
    """H, S and V planes of a BGR uint8 image (any shape ending in 3), as x86-64 OpenCV."""
    s_table, h_table = tables()
    b, g, r = (bgr[..., k].astype(np.int32) for k in range(3))
    v = np.maximum(np.maximum(b, g), r)
    diff = v - np.minimum(np.minimum(b, g), r)
    num = np.where(v == r, g - b, np.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    num -= _NUM_LOW
    num <<= 8
    num |= diff
    index = v << 8
    index |= diff
    h = np.take(h_table, num)
    s = np.take(s_table, index)
    return h, s, v.astype(np.uint8)
