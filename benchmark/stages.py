"""Per-stage time of one frame in one process, beside the `cv2.imread` floor.

Stages, as the engine runs them for a frame, calling the engine's own functions: decode
(`read_frame` into a reused buffer, as a worker does), flat correction (`correct_inplace`,
which also makes the gray image), mask (threshold, `clean_windows`), labelling
(`label_windows`), features (`object_features`), crop encode (`object_crop`) and crop
write + JSONL commit (`FrameStore.commit`). The whole kernel (`segment_frame`) is
also timed on its own.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from benchmark.common import Json, mean, median, ratio
from benchmark.inputs import Dataset
from segmenter.engine.flat_rules import flat_window
from streamer.journal import CommittedFrame, FrameStore
from worker.correct import correct_inplace, correction, median_rows
from worker.decode import read_frame
from worker.kernel import object_crop, object_features, segment_frame
from worker.mask import clean_windows, label_windows, threshold_mask
from worker.params import Params
from worker.records import ObjectRecord

U8 = npt.NDArray[np.uint8]
STAGES = ("decode", "correct", "mask", "label", "features", "encode", "commit")
STAGE_TITLES = {
    "decode": "decode (read_frame)",
    "correct": "flat correction",
    "mask": "mask (threshold + morphology)",
    "label": "labelling",
    "features": "features",
    "encode": "crop encode",
    "commit": "crop write + JSONL commit",
}


def flat_of(ds: Dataset, params: Params) -> U8:
    """The initial flat of `ds`: the median of its first frames."""
    window = flat_window(0, len(ds.frames), params.flat_frames)
    stack = np.stack([read_frame(ds.frames[i]) for i in window])
    flat: U8 = np.empty(stack.shape[1:], np.uint8)
    median_rows(stack, flat, y0=0, y1=int(stack.shape[1]))
    return flat


def time_stages(
    path: Path,
    flat: U8,
    *,
    params: Params,
    store: FrameStore,
    index: int,
    buffer: U8 | None = None,
) -> tuple[dict[str, float], int]:
    """Seconds per stage for one frame, as `segment_frame` and a worker run them
    (the same functions, in the same order), and its object count."""
    clock: list[float] = [time.perf_counter()]
    frame = read_frame(path, buffer)  # into a reused buffer, as a worker decodes
    clock.append(time.perf_counter())
    gray = np.empty(frame.shape[:2], np.uint8)
    correct_inplace(frame, flat, corr=correction(params.clip_max), gray=gray)
    clock.append(time.perf_counter())
    raw = threshold_mask(gray)
    tiles, cleaned = clean_windows(raw, params)
    clock.append(time.perf_counter())
    regions = label_windows(tiles, cleaned, params)
    clock.append(time.perf_counter())
    feats = [object_features(r, frame, gray=gray, index=i) for i, r in enumerate(regions)]
    clock.append(time.perf_counter())
    crops = [object_crop(r, frame, params) for r in regions]
    clock.append(time.perf_counter())
    stem = path.stem
    objects = tuple(ObjectRecord(f"{stem}_{i}", f"{stem}_{i}.jpg", f) for i, f in enumerate(feats))
    sizes = tuple(len(c) for c in crops)
    store.commit(CommittedFrame(index, path.name, 0, objects, sizes), crops)
    clock.append(time.perf_counter())
    times = {name: clock[i + 1] - clock[i] for i, name in enumerate(STAGES)}
    return times, len(regions)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_kernel(path: Path, flat: U8, params: Params) -> float:
    """`segment_frame` alone, on a frame decoded beforehand."""
    frame = read_frame(path)
    return _timed(lambda: segment_frame(frame, flat, params=params))


def floor_buffer(ds: Dataset) -> U8 | None:
    """A frame-sized buffer for `cv2.imread(path, dst)`, None where OpenCV lacks `dst`."""
    buffer: U8 = np.empty((ds.height, ds.width, 3), np.uint8)
    try:
        out = cv2.imread(str(ds.frames[0]), buffer, cv2.IMREAD_COLOR)
    except (TypeError, cv2.error):
        return None
    return buffer if out is not None and np.shares_memory(out, buffer) else None


def time_imread(path: Path, buffer: U8 | None = None) -> float:
    """`cv2.imread` of a frame: into `buffer` (the floor: decoding only), else a new array.

    A new 37 MB array costs ~9,000 page faults, or none when the allocator happens to
    reuse freed memory: only the decode into a reused buffer is a stable floor.
    """
    if buffer is None:
        return _timed(lambda: cv2.imread(str(path), cv2.IMREAD_COLOR))
    return _timed(lambda: cv2.imread(str(path), buffer, cv2.IMREAD_COLOR))


def measure_stages(ds: Dataset, flat: U8, *, params: Params, repeats: int) -> Json:
    """Floor, stages and kernel for every frame of `ds`: median of `repeats`, mean of frames."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as in a worker process: one OpenCV thread
    n = len(ds.frames)
    runs: list[list[dict[str, float]]] = [[] for _ in range(n)]
    floors: list[list[float]] = [[] for _ in range(n)]
    fresh: list[list[float]] = [[] for _ in range(n)]
    buffer = floor_buffer(ds)
    kernels: list[list[float]] = [[] for _ in range(n)]
    counts = [0] * n
    try:
        with tempfile.TemporaryDirectory(prefix="bench-commit-") as tmp:
            store = FrameStore(Path(tmp) / "objects")
            store.open({"run": {"benchmark": True}})
            for _ in range(repeats):
                for i, path in enumerate(ds.frames):
                    floors[i].append(time_imread(path, buffer))
                    fresh[i].append(time_imread(path))
                    times, counts[i] = time_stages(
                        path, flat, params=params, store=store, index=i, buffer=buffer
                    )
                    runs[i].append(times)
                    kernels[i].append(time_kernel(path, flat, params))
    finally:
        cv2.setNumThreads(threads)
    per_frame = [{s: median([r[s] for r in runs[i]]) for s in STAGES} for i in range(n)]
    stages = {s: mean([f[s] for f in per_frame]) for s in STAGES}
    imread = mean([median(f) for f in floors])
    total = sum(stages.values())
    kernel = mean([median(k) for k in kernels])
    return {
        "frames": n,
        "repeats": repeats,
        "objects_per_frame": mean([float(c) for c in counts]),
        "imread_s": imread,
        "imread_into_buffer": buffer is not None,
        "imread_fresh_s": mean([median(f) for f in fresh]),
        "stages_s": stages,
        "per_frame_s": total,
        "per_frame_vs_imread": ratio(total, imread),
        "kernel_s": kernel,
        "kernel_vs_imread": ratio(kernel, imread),
        "per_frame": [
            {
                "name": ds.frames[i].name,
                "objects": counts[i],
                "imread_s": median(floors[i]),
                "total_s": sum(per_frame[i].values()),
            }
            for i in range(n)
        ],
    }
