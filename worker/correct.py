"""Flat-field correction and the flat's median, exact to the baseline's float64 method.

Correction (`worker.table`): each pixel's index `flat << 8 | value`, then OpenCV's
16-bit `cv2.LUT` into the exact table: an integer gather in C++, the same bytes on every
CPU. The flat is kept as the median itself (uint8); the index of a strip is one
`cv2.merge` of the strip and the flat's rows as 2 channels, whose byte pairs
(value, flat) read as uint16 are `flat << 8 | value` on a little-endian CPU (checked at
import). Strip by strip, in place (the index is a strip's scratch, no frame-sized
temporary). Faster than numpy's `np.take`, which converts every uint16 index to intp
first, and than the float32 multiply it replaced (see docs/performance.md).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from worker.table import Correction, correction

__all__ = ["Correction", "correct_inplace", "correction"]

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
STRIP_ROWS = 32  # a strip and its uint16 index (~1.2 MB at 4056x3 wide) stay in L2


def _pairs_are_little_endian() -> bool:
    """Whether the bytes (value, flat) read as uint16 are `flat << 8 | value`."""
    pair = np.array([0x34, 0x12], np.uint8)  # (value, flat)
    return int(pair.view(np.uint16)[0]) == 0x1234


if not _pairs_are_little_endian():  # the Pi's arm64 and x86-64 are little-endian
    raise ImportError("worker.correct builds its index as little-endian byte pairs")


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


def correct_inplace(frame: U8, flat: U8, *, corr: Correction, gray: U8 | None = None) -> None:
    """Flat-correct `frame` in place by the `flat` (the median, uint8, of the frame's
    shape); also fill `gray` (BGR2GRAY) when given.

    The pixel at row 0, column 0 ends black in every channel, as the baseline sets it
    before its rescale: it anchors the triangle threshold's histogram at 0 (SPEC 2.2).
    """
    if not (frame.flags.c_contiguous and flat.flags.c_contiguous):
        raise ValueError("correct_inplace needs C-contiguous arrays")
    if frame.shape != flat.shape or frame.dtype != np.uint8 or flat.dtype != np.uint8:
        raise ValueError("correct_inplace needs a uint8 frame and a uint8 flat of its shape")
    height, width = frame.shape[0], frame.size // max(1, frame.shape[0])
    values, flats = frame.reshape(height, width), flat.reshape(height, width)  # views
    pairs = np.empty((min(STRIP_ROWS, height), width, 2), np.uint8)
    for y in range(0, height, STRIP_ROWS):
        strip = values[y : y + STRIP_ROWS]
        rows = pairs[: strip.shape[0]]
        cv2.merge([strip, flats[y : y + STRIP_ROWS]], dst=rows)  # bytes (value, flat)
        index = rows.view(np.uint16).reshape(strip.shape)  # flat << 8 | value
        if LUT16:
            cv2.LUT(index, corr.lut, dst=strip)  # dst[i] = lut[src[i]]
        else:
            np.take(corr.lut, index, out=strip, mode="clip")  # in range; "clip" is faster
        if y == 0:
            frame[0, 0] = 0
        if gray is not None:
            rgb = frame[y : y + STRIP_ROWS]
            cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY, dst=gray[y : y + STRIP_ROWS])


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
