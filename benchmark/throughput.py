"""Throughput of whole runs (`Segmenter.run`, as the CLI and service call it) by worker count.

Each run segments the acquisition from scratch (`force`): flat field, every frame
committed, TSV and EcoTaxa zip. The pool is started and warmed before the clock
starts, as in the service, which keeps its pool between jobs. `wall_s` is the whole
run; `segment_s` runs from the engine's start event to its archive event (flat fields
and frames, without loading the folder or writing the archive). `cpu_per_frame_s` and
`run_queue_wait_per_frame_s` are the CPU time and the run-queue wait of this process and
its workers over the run (benchmark.runqueue), per frame.
"""

from __future__ import annotations

import os
import time

from benchmark.common import Json, keep_sigint, median, ratio
from benchmark.flatfield import warm
from benchmark.inputs import Dataset
from benchmark.runqueue import spent, threads
from segmenter.engine import Progress, Segmenter
from segmenter.settings import RunSettings


def run_once(seg: Segmenter, ds: Dataset) -> Json:
    """One forced run of `ds`: wall time, segmenting time, frames, objects."""
    marks: dict[str, float] = {}

    def on_progress(event: Progress) -> None:
        marks.setdefault(event.phase, time.perf_counter())

    settings = RunSettings(force=True)
    before, start = threads(os.getpid()), time.perf_counter()
    summaries = seg.run([ds.folder], settings, data_root=ds.data_root, on_progress=on_progress)
    wall = time.perf_counter() - start
    used = spent(before, threads(os.getpid()))
    if len(summaries) != 1 or summaries[0].status != "done":
        status = summaries[0].status if summaries else "nothing run"
        raise RuntimeError(f"benchmark run of {ds.folder} ended {status}")
    summary = summaries[0]
    segment = marks.get("archive", start + wall) - marks.get("start", start)
    return {
        "wall_s": wall,
        "segment_s": segment,
        "frames": summary.frames,
        "failed_frames": len(summary.failed_frames),
        "objects": summary.objects,
        "cpu_per_frame_s": ratio(used.cpu, summary.frames),
        "run_queue_wait_per_frame_s": ratio(used.wait, summary.frames),
    }


def measure_workers(seg: Segmenter, ds: Dataset, *, workers: int, repeats: int) -> Json:
    warm(seg.pool)
    runs = [run_once(seg, ds) for _ in range(repeats)]
    wall = median([r["wall_s"] for r in runs])
    segment = median([r["segment_s"] for r in runs])
    frames, objects = runs[0]["frames"], runs[0]["objects"]
    return {
        "workers": workers,
        "mode": seg.pool.mode,
        "repeats": repeats,
        "frames": frames,
        "objects": objects,
        "failed_frames": runs[0]["failed_frames"],
        "wall_s": wall,
        "segment_s": segment,
        "frames_per_s": ratio(frames, wall),
        "objects_per_s": ratio(objects, wall),
        "segment_frames_per_s": ratio(frames, segment),
        "cpu_per_frame_s": median([r["cpu_per_frame_s"] for r in runs]),
        "run_queue_wait_per_frame_s": median([r["run_queue_wait_per_frame_s"] for r in runs]),
    }


def measure_throughput(ds: Dataset, worker_counts: list[int], repeats: int) -> Json:
    """Rows for each worker count, with the speed-up over the 1-worker (inline) row."""
    rows = []
    for workers in worker_counts:
        with keep_sigint():
            seg = Segmenter(workers)
        try:
            rows.append(measure_workers(seg, ds, workers=workers, repeats=repeats))
        finally:
            seg.close()
    base = next((r for r in rows if r["workers"] == 1), rows[0])
    for row in rows:
        row["speedup"] = ratio(row["frames_per_s"], base["frames_per_s"])
        row["segment_speedup"] = ratio(row["segment_frames_per_s"], base["segment_frames_per_s"])
    return {"reference_workers": base["workers"], "rows": rows}
