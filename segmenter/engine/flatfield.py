"""The flat field computed on the local pool: the frames decoded in parallel into a
shared stack, then the per-pixel median by row strips, straight into the shared flat.
Which frames (the old program's rules) is engine.flat_rules."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from itertools import pairwise

from segmenter.engine.flat_rules import odd
from segmenter.engine.seam import Pool, wait_all
from segmenter.engine.shared_memory import SharedBlock, shared_block
from segmenter.errors import AcquisitionError, FrameError
from worker.correct import median_rows
from worker.tasks import FrameRef, decode_into, median_into_flat

log = logging.getLogger(__name__)


def compute_flat(pool: Pool, frames: Sequence[FrameRef], shape: tuple[int, int]) -> SharedBlock:
    """The flat of `frames` as a shared uint8 block holding the per-pixel median (the
    upper middle for an even count, as the baseline takes it).

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
        flat = SharedBlock((height, width, 3), "uint8")
        try:
            _median_all(pool, stack, count=count, flat=flat)
        except BaseException:
            flat.close()
            raise
    return flat


def _decode_all(pool: Pool, stack: SharedBlock, frames: Sequence[FrameRef]) -> list[int]:
    """Decode every frame into its slot; the slots that hold a frame, in order."""
    epoch = pool.rebuilds
    decodes = [pool.submit(decode_into, stack.ref, i, f.path) for i, f in enumerate(frames)]
    wait_all(pool.stop, decodes)
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
            wait_all(pool.stop, [fut])
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


def _median_all(pool: Pool, stack: SharedBlock, *, count: int, flat: SharedBlock) -> None:
    """The median by row strips on the pool; strips a dying worker lost, here."""
    height = flat.array.shape[0]
    epoch = pool.rebuilds
    bands = max(1, pool.parallelism * 2)
    edges = [(y0, y1) for y0, y1 in pairwise(height * k // bands for k in range(bands + 1))]
    edges = [(y0, y1) for y0, y1 in edges if y1 > y0]
    strips = [pool.submit(median_into_flat, stack.ref, count, flat.ref, y0, y1) for y0, y1 in edges]
    wait_all(pool.stop, strips)
    for (y0, y1), fut in zip(edges, strips, strict=True):
        if isinstance(fut.exception(), BrokenProcessPool):
            if pool.rebuilds == epoch:
                pool.rebuild()
            median_rows(stack.array[:count], flat.array, y0=y0, y1=y1)  # type: ignore[arg-type]
        else:
            fut.result()


def _decoded(exc: BaseException | None, frame: FrameRef) -> bool:
    if exc is None:
        return True
    if isinstance(exc, FrameError):
        log.warning("flat field: skipping %s (%s)", frame.name, exc.reason)
        return False
    raise exc
