"""Flat-field correction and the flat's median, exact to the baseline's float64 method.

Correction reads a 256x256 table holding the exact float64 result of
`clip(v / f, 0, clip_max) / clip_max * 255` truncated to uint8, so it equals the literal
float64 method bit for bit while touching each pixel once, strip by strip, in place (no
full-frame float copy).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
STRIP_ROWS = 32


@lru_cache(maxsize=4)
def correction_lut(clip_max: float) -> U8:
    """Table indexed by `flat << 8 | value`: the float64 baseline result for each pair."""
    values = np.arange(256, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values[None, :] / values[:, None]  # row: flat value, column: frame value
        ratio = np.nan_to_num(ratio, nan=0.0, posinf=np.inf)
        ratio = np.clip(ratio, 0, clip_max)
        ratio = (ratio - 0) / (clip_max - 0)
        table = (ratio * 255 + 0).astype(np.uint8)
    table.setflags(write=False)
    return table.reshape(-1)


def flat_index(flat: U8) -> U16:
    """The flat field as table row offsets (`flat << 8`), computed once per flat."""
    return np.left_shift(flat.astype(np.uint16), 8)


def correct_inplace(frame: U8, flat_idx: U16, lut: U8, gray: U8 | None = None) -> None:
    """Flat-correct `frame` in place; also fill `gray` (BGR2GRAY) when given.

    The pixel at row 0, column 0 ends black in every channel, as the baseline sets it
    before its rescale: it anchors the triangle threshold's histogram at 0 (SPEC 2.2).
    """
    height = frame.shape[0]
    index = np.empty((min(STRIP_ROWS, height), *frame.shape[1:]), np.uint16)
    for y in range(0, height, STRIP_ROWS):
        strip = frame[y : y + STRIP_ROWS]
        idx = index[: strip.shape[0]]
        np.add(flat_idx[y : y + STRIP_ROWS], strip, out=idx)  # 4x cv2.add's mixed-type add
        np.take(lut, idx, out=strip, mode="clip")  # in range anyway; "clip" is faster
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


def median_rows(stack: U8, out: U8, y0: int, y1: int, strip: int = 32) -> None:
    """Median of rows y0:y1 of every frame of `stack` into the same rows of `out`."""
    for y in range(y0, y1, strip):
        stop = min(y1, y + strip)
        median_into(stack[:, y:stop], out[y:stop])
