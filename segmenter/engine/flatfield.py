"""The flat field: which frames make it and when it is recomputed (the baseline's rules,
SPEC 2.1), and computing it on the pool: the frames decoded in parallel into a shared
stack, then the per-pixel median by row strips, straight into the shared flat."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, wait
from concurrent.futures.process import BrokenProcessPool
from itertools import pairwise

import numpy as np

from segmenter.engine.pool import WorkerPool
from segmenter.engine.shared_memory import SharedBlock, shared_block
from segmenter.errors import AcquisitionError, FrameError, Interrupted
from worker.correct import median_rows
from worker.params import Params
from worker.tasks import FrameRef, decode_into, median_into_flat

log = logging.getLogger(__name__)


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


def settled_flat_window(next_index: int, seen: int, ended: bool, flat_frames: int) -> range | None:
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


WAIT_SLICE = 0.1


def _wait_all(pool: WorkerPool, futures: Sequence[Future[object]]) -> None:
    """Wait for every future; on stop, cancel the rest and raise Interrupted."""
    pending = set(futures)
    while pending:
        if pool.stop.is_set():
            for fut in pending:
                fut.cancel()
            wait(pending)
            raise Interrupted("stopped while computing the flat field")
        _done, pending = wait(pending, timeout=WAIT_SLICE)


def compute_flat(
    pool: WorkerPool, frames: Sequence[FrameRef], shape: tuple[int, int]
) -> SharedBlock:
    """The flat of `frames` as a shared uint16 block holding `median << 8` (the upper
    middle for an even count, as the baseline takes it).

    Frames that cannot be decoded are left out (the count is then made odd); with
    none left the acquisition cannot be segmented. A worker that dies meanwhile costs
    nothing but time: the pool is rebuilt, the decodes it lost are done again one at a
    time (a frame that kills its worker twice is left out) and the median strips it
    lost are computed here.
    """
    height, width = shape
    with shared_block((len(frames), height, width, 3), "uint8") as stack:
        good = _decode_all(pool, stack, frames)
        if not good:
            raise AcquisitionError("none of the flat-field frames could be decoded")
        count = len(good) if len(good) == len(frames) else odd(len(good))
        if good[:count] != list(range(count)):
            for slot, i in enumerate(good[:count]):  # compact the good frames to the front
                stack.array[slot] = stack.array[i]
        flat = SharedBlock((height, width, 3), "uint16")
        try:
            _median_all(pool, stack, count, flat)
        except BaseException:
            flat.close()
            raise
    return flat


def _decode_all(pool: WorkerPool, stack: SharedBlock, frames: Sequence[FrameRef]) -> list[int]:
    """Decode every frame into its slot; the slots that hold a frame, in order."""
    epoch = pool.rebuilds
    decodes = [pool.submit(decode_into, stack.ref, i, f.path) for i, f in enumerate(frames)]
    _wait_all(pool, decodes)  # type: ignore[arg-type]
    good, lost = [], []
    for i, fut in enumerate(decodes):
        exc = fut.exception()
        if isinstance(exc, BrokenProcessPool):
            lost.append(i)
        elif _decoded(exc, frames[i]):
            good.append(i)
    if lost and pool.rebuilds == epoch:
        pool.rebuild()
    for i in lost:  # one at a time: only a frame that kills its worker is charged
        for attempt in range(2):
            epoch = pool.rebuilds
            fut = pool.submit(decode_into, stack.ref, i, frames[i].path)
            _wait_all(pool, [fut])  # type: ignore[list-item]
            exc = fut.exception()
            if not isinstance(exc, BrokenProcessPool):
                if _decoded(exc, frames[i]):
                    good.append(i)
                break
            if pool.rebuilds == epoch:
                pool.rebuild()
            if attempt == 1:
                log.warning("flat field: skipping %s (its worker process died)", frames[i].name)
    return sorted(good)


def _median_all(pool: WorkerPool, stack: SharedBlock, count: int, flat: SharedBlock) -> None:
    """The median by row strips on the pool; strips a dying worker lost, here."""
    height = flat.array.shape[0]
    epoch = pool.rebuilds
    bands = max(1, pool.parallelism * 2)
    edges = [(y0, y1) for y0, y1 in pairwise(height * k // bands for k in range(bands + 1))]
    edges = [(y0, y1) for y0, y1 in edges if y1 > y0]
    strips = [pool.submit(median_into_flat, stack.ref, count, flat.ref, y0, y1) for y0, y1 in edges]
    _wait_all(pool, strips)  # type: ignore[arg-type]
    for (y0, y1), fut in zip(edges, strips, strict=True):
        if isinstance(fut.exception(), BrokenProcessPool):
            if pool.rebuilds == epoch:
                pool.rebuild()
            out = np.empty((y1 - y0, *flat.array.shape[1:]), np.uint8)
            median_rows(stack.array[:count, y0:y1], out, 0, y1 - y0)  # type: ignore[arg-type]
            np.left_shift(out.astype(np.uint16), 8, out=flat.array[y0:y1])
        else:
            fut.result()


def _decoded(exc: BaseException | None, frame: FrameRef) -> bool:
    if exc is None:
        return True
    if isinstance(exc, FrameError):
        log.warning("flat field: skipping %s (%s)", frame.name, exc.reason)
        return False
    raise exc
