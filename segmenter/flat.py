"""Flat field: which frames make it, when to recompute it, and the median itself (pure)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from segmenter.config import Params

U8 = npt.NDArray[np.uint8]


def odd(n: int) -> int:
    """`n` made odd by dropping one (the baseline's rule), at least 1."""
    return max(1, n if n % 2 else n - 1)


def flat_window(next_index: int, n_frames: int, flat_frames: int) -> range:
    """Indices of the frames whose median is the flat used from frame `next_index` on.

    - The next `flat_frames` frames, `next_index .. next_index + flat_frames - 1`, when
      that many remain (next_index 0 gives the initial flat: the first frames);
    - otherwise the `flat_frames` frames before it, `next_index - flat_frames ..
      next_index - 1`, clamped at 0;
    - otherwise (next_index 0 with fewer than `flat_frames` frames) all the frames.
    A window of even length is made odd by dropping its last frame. Empty only when
    there are no frames.
    """
    if not 0 <= next_index <= n_frames or flat_frames < 1:
        raise ValueError(f"bad flat window: next {next_index}, {n_frames} frames, {flat_frames}")
    if next_index + flat_frames <= n_frames:
        start, stop = next_index, next_index + flat_frames
    elif next_index == 0:
        start, stop = 0, n_frames
    else:
        start, stop = max(0, next_index - flat_frames), next_index
    if (stop - start) % 2 == 0 and stop > start:
        stop -= 1
    return range(start, stop)


def should_recalculate(count: int, counts_before: Sequence[int], params: Params) -> bool:
    """Whether a frame with `count` kept objects triggers a new flat before the next frame.

    True when `params.recalculate_flat` and `count > average + params.recalculate_margin`
    (strictly greater), `average` being the mean of `counts_before` (the counts of all
    earlier frames of the acquisition), 0 when there are none.
    """
    if not params.recalculate_flat:
        return False
    average = sum(counts_before) / len(counts_before) if counts_before else 0.0
    return count > average + params.recalculate_margin


def median_into(stack: U8, out: U8) -> None:
    """Exact per-pixel median of an odd stack along axis 0, written into `out`.

    A partial bubble sort of compare-exchanges (np.minimum / np.maximum) on copies of
    the planes: after `n // 2 + 1` passes the middle element is in place. Run it on
    strips so that the planes stay in cache; 15x faster than np.partition.
    """
    n = stack.shape[0]
    if n % 2 == 0:
        raise ValueError("median_into needs an odd number of frames")
    planes = [stack[i].copy() for i in range(n)]
    low = np.empty_like(planes[0])
    for k in range(n // 2 + 1):
        for i in range(n - 1 - k):
            np.minimum(planes[i], planes[i + 1], out=low)
            np.maximum(planes[i], planes[i + 1], out=planes[i + 1])
            planes[i], low = low, planes[i]
    out[...] = planes[n - 1 - n // 2]


def median_rows(stack: U8, out: U8, y0: int, y1: int, strip: int = 32) -> None:
    """Median of rows y0:y1 of every frame of `stack` into the same rows of `out`."""
    for y in range(y0, y1, strip):
        stop = min(y1, y + strip)
        median_into(stack[:, y:stop], out[y:stop])
