"""Flat-field computation time: on the pool, in one process, and the baseline's sort.

All three start from the frame files (decoding is part of the cost) and compute the
initial flat of SPEC 2.1 (median of the first 9 frames); the fast flat is checked
equal to the baseline's.
"""

from __future__ import annotations

import time
from concurrent.futures import wait

import numpy as np
import numpy.typing as npt

from benchmark import old_method
from benchmark.common import Json, keep_sigint, median, ratio
from benchmark.inputs import Dataset
from segmenter.engine.flat_rules import flat_window
from segmenter.engine.flatfield import compute_flat
from segmenter.engine.pool import WorkerPool
from segmenter.engine.seam import Pool
from worker.decode import read_frame
from worker.params import Params
from worker.tasks import FrameRef

U8 = npt.NDArray[np.uint8]


def _noop() -> int:
    return 0


def warm(pool: Pool) -> None:
    """Start every worker process before anything is timed."""
    futures = [pool.submit(_noop) for _ in range(2 * pool.parallelism)]
    wait(futures)


def _pool_flat(pool: WorkerPool, ds: Dataset, params: Params) -> tuple[float, U8]:
    window = flat_window(0, len(ds.frames), params.flat_frames)
    refs = [FrameRef(i, str(ds.frames[i])) for i in window]
    start = time.perf_counter()
    block = compute_flat(pool, refs, (ds.height, ds.width))
    seconds = time.perf_counter() - start
    try:
        flat = np.asarray(block.array, dtype=np.uint8).copy()
    finally:
        block.close()
    return seconds, flat


def _baseline_flat(ds: Dataset, params: Params) -> tuple[float, U8]:
    window = flat_window(0, len(ds.frames), params.flat_frames)
    start = time.perf_counter()
    flat = old_method.manual_median([read_frame(ds.frames[i]) for i in window], len(window))
    seconds = time.perf_counter() - start
    return seconds, np.asarray(flat, dtype=np.uint8)


def measure_flat(ds: Dataset, params: Params, *, workers: int, repeats: int) -> Json:
    """Median seconds to compute the initial flat of `ds`, three ways."""
    window = flat_window(0, len(ds.frames), params.flat_frames)
    times: dict[str, list[float]] = {"pooled": [], "one_process": [], "baseline": []}
    flats: list[U8] = []
    for key, count in (("pooled", workers), ("one_process", 1)):
        with keep_sigint():
            pool = WorkerPool(count)
        try:
            warm(pool)
            for _ in range(repeats):
                seconds, flat = _pool_flat(pool, ds, params)
                times[key].append(seconds)
            flats.append(flat)
        finally:
            pool.close()
    for _ in range(repeats):
        seconds, flat = _baseline_flat(ds, params)
        times["baseline"].append(seconds)
    flats.append(flat)
    pooled, one, base = (median(times[k]) for k in ("pooled", "one_process", "baseline"))
    return {
        "frames": len(window),
        "workers": workers,
        "repeats": repeats,
        "pooled_s": pooled,
        "one_process_s": one,
        "baseline_s": base,
        "pooled_speedup_vs_one_process": ratio(one, pooled),
        "speedup_vs_baseline": ratio(base, pooled),
        "equal_to_baseline": all(np.array_equal(f, flats[-1]) for f in flats),
    }
