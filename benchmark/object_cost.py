"""`python -m benchmark.object_cost FOLDER [FRAMES]`: the per-object cost of the features.

Segments the first FRAMES frames (default 6) of an acquisition folder with the flat of
its first 9 and times, for each region found, `hsv_stats`, `shape_features` and the
whole `region_features` in CPU time (`time.process_time`, the best of 5 per object:
the figure other processes on the machine disturb least). Prints the median and the mean
over the objects. Run it on two checkouts to compare a change.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from worker.correct import correct_inplace, correction, median_into
from worker.decode import read_frame
from worker.features import hsv_stats, region_features, shape_features
from worker.mask import Region, find_regions, threshold_mask
from worker.params import Params
from worker.topology import topology

Crop = tuple[Region, np.ndarray, np.ndarray]


def crops(folder: Path, count: int, params: Params) -> list[Crop]:
    """Each region of the first `count` frames with its colour and gray crops."""
    frames = sorted(folder.glob("**/*.jpg"))
    stack = np.stack([read_frame(p) for p in frames[:9]])
    flat = np.empty_like(stack[0])
    median_into(stack, flat)
    out: list[Crop] = []
    for path in frames[:count]:
        frame = read_frame(path)
        gray = np.empty(frame.shape[:2], np.uint8)
        correct_inplace(frame, flat, corr=correction(params.clip_max), gray=gray)
        for region in find_regions(threshold_mask(gray), params):
            h, w = region.image.shape
            box = (slice(region.top, region.top + h), slice(region.left, region.left + w))
            out.append((region, frame[box].copy(), gray[box].copy()))
    return out


def cpu_us(call: Callable[..., object], *args: object, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        call(*args)
        best = min(best, time.process_time() - start)
    return best * 1e6


def costs(objects: list[Crop]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"hsv_stats": [], "shape_features": [], "region_features": []}
    for region, color, gray in objects:
        topo, offset = topology(region.image), (region.top, region.left)
        out["hsv_stats"].append(cpu_us(hsv_stats, color, topo.filled, topo.area_filled))
        out["shape_features"].append(cpu_us(shape_features, region.image, topo, offset))
        out["region_features"].append(cpu_us(region_features, region.image, color, gray, offset))
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    objects = crops(Path(argv[0]), int(argv[1]) if len(argv) > 1 else 6, Params(min_esd_um=15.0))
    sizes = [region.image.size for region, _, _ in objects]
    print(f"{len(objects)} objects, bounding box median {statistics.median(sizes):.0f} px")
    for name, values in costs(objects).items():
        print(
            f"{name}: median {statistics.median(values):.0f} us,"
            f" mean {statistics.mean(values):.0f} us"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
