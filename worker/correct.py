"""Flat-field correction and the flat's median, exact to the baseline's float64 method.

Correction (`worker.table`): each pixel's index `flat << 8 | value` (the flat is kept
as `flat << 8`, so one uint16 add), then OpenCV's 16-bit `cv2.LUT` into the exact table:
an integer gather in C++, the same bytes on every CPU. Strip by strip, in place (the
index is a strip's uint16 scratch, no frame-sized temporary). Faster than numpy's
`np.take`, which converts every uint16 index to intp first, and than the float32
multiply it replaced (see docs/performance.md).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from worker.table import Correction, correction

__all__ = ["Correction", "correct_inplace", "correction", "flat_index"]

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
STRIP_ROWS = 32  # a strip and its uint16 index (~1.2 MB at 4056x3 wide) stay in L2


def flat_index(flat: U8) -> U16:
    """The flat field as table row offsets (`flat << 8`), computed once per flat."""
    return np.left_shift(flat.astype(np.uint16), 8)


def _lut16() -> bool:
    """Whether this OpenCV's `cv2.LUT` takes a 16-bit index (5.x; 4.x takes 8-bit only)."""
    index = np.arange(65536, dtype=np.uint16)
    table = (index * 7 >> 5).astype(np.uint8)  # every entry's own value, wrapped
    try:
        out = cv2.LUT(index, table)
    except cv2.error:
        return False
    return out.dtype == np.uint8 and np.array_equal(out.reshape(-1), table)


LUT16 = _lut16()  # else the same gather by `np.take` (its intp conversion: ~2x slower)


def correct_inplace(frame: U8, flat_idx: U16, *, corr: Correction, gray: U8 | None = None) -> None:
    """Flat-correct `frame` in place; also fill `gray` (BGR2GRAY) when given.

    The pixel at row 0, column 0 ends black in every channel, as the baseline sets it
    before its rescale: it anchors the triangle threshold's histogram at 0 (SPEC 2.2).
    """
    if not (frame.flags.c_contiguous and flat_idx.flags.c_contiguous):
        raise ValueError("correct_inplace needs C-contiguous arrays")
    if frame.shape != flat_idx.shape or frame.dtype != np.uint8 or flat_idx.dtype != np.uint16:
        raise ValueError("correct_inplace needs a uint8 frame and a uint16 flat of its shape")
    index = np.empty((min(STRIP_ROWS, frame.shape[0]), *frame.shape[1:]), np.uint16)
    for y in range(0, frame.shape[0], STRIP_ROWS):
        strip = frame[y : y + STRIP_ROWS]
        rows = index[: strip.shape[0]]
        np.copyto(rows, strip, casting="unsafe")  # widen, then a same-type add:
        np.add(rows, flat_idx[y : y + STRIP_ROWS], out=rows)  # faster than one mixed add
        if LUT16:
            cv2.LUT(rows, corr.lut, dst=strip)  # dst[i] = lut[src[i]]
        else:
            np.take(corr.lut, rows, out=strip, mode="clip")  # in range; "clip" is faster
        if y == 0:
            strip[0, 0] = 0
        if gray is not None:
            cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY, dst=gray[y : y + STRIP_ROWS])


def median_into(stack: U8, out: U8) -> None:
    """Per-pixel element `n // 2` of the sorted stack along axis 0, written into `out`:
    the median for an odd `n`, the upper middle for an even one (the baseline's
    `sort(axis=0)[n // 2]`).

    A partial bubble sort of compare-exchanges (np.minimum / np.maximum) on copies of
    the planes: pass k puts the k-th largest in place, so after `n - n // 2` passes
    element `n // 2` is. Run it on strips so that the planes stay in cache; 15x faster
    than np.partition.
    """
    n = stack.shape[0]
    if n == 0:
        raise ValueError("median_into needs at least one frame")
    planes = [stack[i].copy() for i in range(n)]
    low = np.empty_like(planes[0])
    for k in range(n - n // 2):
        for i in range(n - 1 - k):
            np.minimum(planes[i], planes[i + 1], out=low)
            np.maximum(planes[i], planes[i + 1], out=planes[i + 1])
            planes[i], low = low, planes[i]
    out[...] = planes[n // 2]


def median_rows(stack: U8, out: U8, *, y0: int, y1: int, strip: int = 32) -> None:
    """Median of rows y0:y1 of every frame of `stack` into the same rows of `out`."""
    for y in range(y0, y1, strip):
        stop = min(y1, y + strip)
        median_into(stack[:, y:stop], out[y:stop])
