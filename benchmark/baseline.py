"""The old service's method (`benchmark.old_method`, transcribed from its code: float64,
full-frame skimage) side by side with the fast kernel, on the same frames, in the same run.

Both sides start from the JPEG file and end with every object measured and its crop
encoded as JPEG: decode, correct, mask, label, features, crops. Neither writes files
(the per-stage table shows that cost). Both use the same flat field.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from benchmark import old_method
from benchmark.common import Json, mean, median, ratio
from benchmark.inputs import Dataset
from benchmark.stages import floor_buffer, time_imread
from segmenter.engine.flat_rules import flat_window
from worker.decode import read_frame
from worker.kernel import encode_jpeg, segment_frame
from worker.params import Params


def baseline_frame(path: Path, flat: np.ndarray, params: Params) -> tuple[float, int]:
    """Seconds and object count of the old method on one frame, crops encoded."""
    start = time.perf_counter()
    image = old_method.correct(read_frame(path), flat)
    mask = old_method.clean(old_method.threshold(image), None)
    objects = old_method.objects(image, mask, min_esd_px=params.min_esd_px, stem=path.stem, start=0)
    for obj in objects:
        encode_jpeg(obj.crop, params.jpeg_quality)
    return time.perf_counter() - start, len(objects)


def fast_frame(path: Path, flat: np.ndarray, params: Params) -> tuple[float, int]:
    """Seconds and object count of the engine's kernel (decode + `segment_frame`)."""
    start = time.perf_counter()
    frame = read_frame(path)
    seg, _raw = segment_frame(frame, flat, params=params)
    return time.perf_counter() - start, len(seg.features)


def measure_baseline(ds: Dataset, params: Params, *, n_frames: int, repeats: int) -> Json:
    """Baseline vs fast on the first `n_frames` frames: median of repeats, mean of frames."""
    window = flat_window(0, len(ds.frames), params.flat_frames)
    flat = old_method.manual_median([read_frame(ds.frames[i]) for i in window], len(window))
    paths = ds.frames[: max(1, n_frames)]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    base: list[list[float]] = [[] for _ in paths]
    fast: list[list[float]] = [[] for _ in paths]
    floor: list[list[float]] = [[] for _ in paths]
    counts_match = True
    objects = 0
    buffer = floor_buffer(ds)
    try:
        for _ in range(repeats):
            for i, path in enumerate(paths):
                floor[i].append(time_imread(path, buffer))
                seconds, n_base = baseline_frame(path, flat, params)
                base[i].append(seconds)
                seconds, n_fast = fast_frame(path, flat, params)
                fast[i].append(seconds)
                counts_match = counts_match and n_base == n_fast
                objects += n_fast
    finally:
        cv2.setNumThreads(threads)
    baseline_s = mean([median(b) for b in base])
    fast_s = mean([median(f) for f in fast])
    imread_s = mean([median(f) for f in floor])
    return {
        "frames": len(paths),
        "repeats": repeats,
        "objects_per_frame": objects / (len(paths) * repeats),
        "imread_s": imread_s,
        "baseline_s": baseline_s,
        "fast_s": fast_s,
        "speedup": ratio(baseline_s, fast_s),
        "baseline_vs_imread": ratio(baseline_s, imread_s),
        "fast_vs_imread": ratio(fast_s, imread_s),
        "object_counts_match": counts_match,
    }
