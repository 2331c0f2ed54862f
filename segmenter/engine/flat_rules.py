"""The flat field's rules, as the old program applies them (SPEC 2.1): which frames make
the flat, when a live run may apply them, and when the flat is recomputed. Pure: no pool,
no I/O (engine.flatfield computes a flat on a pool)."""

from __future__ import annotations

from worker.params import Params


def odd(n: int) -> int:
    """`n` made odd by dropping one (the baseline's rule), at least 1."""
    return max(1, n if n % 2 else n - 1)


def flat_window(next_index: int, n_frames: int, flat_frames: int) -> range:
    """Indices of the frames whose median is the flat used from frame `next_index` on,
    exactly as the baseline picks them (SPEC 2.1). `flat_frames` is its 10 made odd (9);
    `span` = flat_frames + 1 is the 10 its slices take.

    - next_index 0, the initial flat: the first `flat_frames` frames, or all of them made
      odd when there are fewer than `span`;
    - a recalculation before frame j: the first `flat_frames` of `frames[j : j+span]`,
      of all the frames when there are exactly `span`, and of `frames[j-span : j]` (a
      Python slice: a negative start counts from the end) when `j > n - span - 1`. With
      `j < span <= n` that slice is empty and the baseline crashes; `frames[0 : j]` is
      used instead. Not made odd: like the baseline, a window of even length takes its
      upper middle (see `median_into`).
    """
    span = flat_frames + 1
    if not 0 <= next_index <= n_frames or flat_frames < 1:
        raise ValueError(f"bad flat window: next {next_index}, {n_frames} frames, {flat_frames}")
    if next_index == 0:
        if n_frames == 0:
            return range(0)
        return range(0, odd(n_frames) if n_frames < span else flat_frames)
    j = next_index
    if n_frames == span:
        start, stop = 0, span
    elif j > n_frames - span - 1:
        start, stop = (j - span if j >= span else max(0, n_frames + j - span)), j
        if start >= stop:  # the baseline's empty slice
            start = max(0, j - span)
    else:
        start, stop = j, j + span
    return range(start, min(stop, start + flat_frames))


def settled_flat_window(
    next_index: int, seen: int, *, ended: bool, flat_frames: int
) -> range | None:
    """`flat_window` while the number of frames is not known yet (live): the window once
    it is the same whatever the final count (>= `seen`) turns out to be and all of its
    frames are there; else None (wait for more frames, or for the end).

    From `next_index + flat_frames + 2` frames on, the baseline's window no longer
    depends on the count, so at most that many have to be seen: the first 9 frames for
    the initial flat, frames j..j+10 for a recalculation before frame j.
    """
    if ended:
        return flat_window(next_index, seen, flat_frames)
    stable = next_index + flat_frames + 2
    counts = range(max(seen, next_index), max(seen, stable) + 1)
    windows = {flat_window(next_index, n, flat_frames) for n in counts}
    window = windows.pop()
    if windows or window.stop > seen:
        return None
    return window


def next_average(average: float, count: int, frames_before: int) -> float:
    """The baseline's running mean of kept-object counts after one more frame."""
    return (average * frames_before + count) / (frames_before + 1)


def should_recalculate(count: int, average: float, params: Params) -> bool:
    """Whether a frame with `count` kept objects asks for a new flat before the next frame.

    The baseline's rule: `average != 0 and count > average + margin`, `average` being the
    running mean (`next_average`) of the counts of the frames before; so never after the
    first frame, nor while every earlier frame had no object.
    """
    if not params.recalculate_flat:
        return False
    return average != 0 and count > average + params.recalculate_margin
