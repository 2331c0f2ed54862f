"""Computing a flat field on the pool: frames decoded in parallel into a shared stack,
then the per-pixel median by row strips, straight into the shared flat (`flat << 8`)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from concurrent.futures import Future, wait

from segmenter.engine import WorkerPool
from segmenter.errors import AcquisitionError, FrameError, Interrupted
from segmenter.flat import odd
from segmenter.shm import SharedBlock, shared_block
from segmenter.worker import FrameRef, decode_into, median_into_flat

log = logging.getLogger(__name__)

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
    none left the acquisition cannot be segmented.
    """
    height, width = shape
    with shared_block((len(frames), height, width, 3), "uint8") as stack:
        decodes = [pool.submit(decode_into, stack.ref, i, f.path) for i, f in enumerate(frames)]
        _wait_all(pool, decodes)  # type: ignore[arg-type]
        good = [i for i, fut in enumerate(decodes) if _decoded(fut, frames[i])]
        if not good:
            raise AcquisitionError("none of the flat-field frames could be decoded")
        count = len(good) if len(good) == len(frames) else odd(len(good))
        if good[:count] != list(range(count)):
            for slot, i in enumerate(good[:count]):  # compact the good frames to the front
                stack.array[slot] = stack.array[i]
        flat = SharedBlock((height, width, 3), "uint16")
        try:
            bands = max(1, pool.parallelism * 2)
            edges = [height * k // bands for k in range(bands + 1)]
            strips = [
                pool.submit(median_into_flat, stack.ref, count, flat.ref, y0, y1)
                for y0, y1 in itertools.pairwise(edges)
                if y1 > y0
            ]
            _wait_all(pool, strips)  # type: ignore[arg-type]
            for fut in strips:
                fut.result()
        except BaseException:
            flat.close()
            raise
    return flat


def _decoded(fut: Future[tuple[int, int]], frame: FrameRef) -> bool:
    exc = fut.exception()
    if exc is None:
        return True
    if isinstance(exc, FrameError):
        log.warning("flat field: skipping %s (%s)", frame.name, exc.reason)
        return False
    raise exc
