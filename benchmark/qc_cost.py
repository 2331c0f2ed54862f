"""What the per-frame quality control costs (issue 28; worker.qc), beside the kernel.

Per frame, in one process with one OpenCV thread, as a worker runs it: the raw frame's
background (`worker.qc.background`), the focus grid's accumulation of the objects' focus
terms (the `FocusGrid` sink `object_features` feeds; the terms themselves are the
per-object focus score's, computed anyway) and its result, and the static check against
the previous frame's contours (`worker.qc.static_flags`, where frames commit).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from benchmark.common import Json, mean, median, ratio
from benchmark.inputs import Dataset
from worker.correct import correct_inplace, correction
from worker.decode import read_frame
from worker.features import Int32, outer_contour
from worker.kernel import object_features
from worker.mask import clean_windows, label_windows, threshold_mask
from worker.params import Params
from worker.qc import FocusGrid, background, static_flags

PARTS = ("background", "focus_grid", "static")


def _frame_qc_times(
    path: Path, flat: npt.NDArray[np.uint8], *, params: Params, previous: list[list[list[int]]]
) -> tuple[dict[str, float], list[list[list[int]]]]:
    frame = read_frame(path)
    started = time.perf_counter()
    brightness = background(frame)
    times = {"background": time.perf_counter() - started}
    gray = np.empty(frame.shape[:2], np.uint8)
    correct_inplace(frame, flat, corr=correction(params.clip_max), gray=gray)
    tiles, cleaned = clean_windows(threshold_mask(gray), params)
    regions = label_windows(tiles, cleaned, params)
    h, w = frame.shape[:2]
    grid = FocusGrid((h, w))
    spent = [0.0]

    def timed(offset: tuple[int, int], lap2: Int32, grad2: Int32) -> None:
        t = time.perf_counter()
        grid(offset, lap2, grad2)
        spent[0] += time.perf_counter() - t

    for i, region in enumerate(regions):
        object_features(region, frame, gray=gray, index=i, focus_sink=timed)
    started = time.perf_counter()
    grid.result(brightness, len(regions))
    times["focus_grid"] = spent[0] + time.perf_counter() - started
    contours = [outer_contour(r.image, (r.top, r.left)) for r in regions]
    started = time.perf_counter()
    static_flags(previous, contours)
    times["static"] = time.perf_counter() - started
    return times, contours


def measure_qc(ds: Dataset, flat: npt.NDArray[np.uint8], *, params: Params, repeats: int) -> Json:
    """Seconds per frame of each QC part: median of `repeats`, mean over the frames (each
    frame's static check against the frame before it)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    runs: list[list[dict[str, float]]] = [[] for _ in ds.frames]
    try:
        for _ in range(repeats):
            previous: list[list[list[int]]] = []
            for i, path in enumerate(ds.frames):
                times, previous = _frame_qc_times(path, flat, params=params, previous=previous)
                runs[i].append(times)
    finally:
        cv2.setNumThreads(threads)
    parts = {p: mean([median([r[p] for r in frame]) for frame in runs]) for p in PARTS}
    return {"parts_s": parts, "qc_s": sum(parts.values())}


def with_kernel(qc: Json, kernel_s: float) -> Json:
    """`qc` with its share of the whole kernel (`segment_frame`, QC included)."""
    return {**qc, "qc_vs_kernel": ratio(qc["qc_s"], kernel_s)}
