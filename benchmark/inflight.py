"""Memory one frame in flight needs in one process, against the frame's uint8 size.

From before decoding to the end of `segment_frame`, two views of the peak extra memory:
- tracemalloc: every NumPy and Python allocation (OpenCV returns NumPy arrays), exact
  but blind to buffers OpenCV or libjpeg allocate and free internally;
- resident set: VmHWM after resetting it (`/proc/self/clear_refs` = 5) minus the RSS
  before; sees everything, but misses memory the allocator reuses from earlier frames.
`bytes` is the larger of the two; `vs_frame` divides it by width x height x 3.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmark.common import Json, ratio
from benchmark.inputs import Dataset
from worker.decode import read_frame
from worker.kernel import segment_frame
from worker.params import Params

U8 = npt.NDArray[np.uint8]
STATUS = Path("/proc/self/status")


def _status_bytes(key: str) -> int:
    try:
        text = STATUS.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def one_frame(path: Path, flat: U8, params: Params) -> tuple[int, int]:
    """(tracemalloc peak, resident peak delta) in bytes for decoding and segmenting a frame."""
    gc.collect()
    can_reset = _reset_peak()
    rss_before = _status_bytes("VmRSS")
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        frame = read_frame(path)
        segment_frame(frame, flat, params=params)
        del frame
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    hwm = _status_bytes("VmHWM") if can_reset else 0
    return peak - base, max(0, hwm - rss_before)


def measure_inflight(ds: Dataset, flat: U8, *, params: Params, n_frames: int) -> Json:
    """The worst of the first `n_frames` frames of `ds` (the frame with most objects)."""
    one_frame(ds.frames[0], flat, params)  # warm caches and lookup tables
    traced, resident = 0, 0
    for path in ds.frames[: max(1, n_frames)]:
        t, r = one_frame(path, flat, params)
        traced, resident = max(traced, t), max(resident, r)
    peak = max(traced, resident)
    return {
        "frames": min(len(ds.frames), max(1, n_frames)),
        "frame_bytes": ds.frame_bytes,
        "tracemalloc_peak_bytes": traced,
        "rss_peak_delta_bytes": resident,
        "bytes": peak,
        "vs_frame": ratio(peak, ds.frame_bytes),
    }
