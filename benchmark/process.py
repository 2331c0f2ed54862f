"""A whole `segmenter segment` process against the old segmenter's, start-up included.

Issue 16's end-to-end target: a 20-frame acquisition segmented by a fresh
`python -m segmenter segment FOLDER --workers 2 --no-report` process (Python start-up,
imports, pool, flat field, frames, TSV, zip), against a fresh process running the old
service's method on the same folder (`python -m benchmark.old_program`: the same
start-up, `benchmark.old_method`'s flat and frames, crops, TSV and zip). Wall time from
starting each process to its exit. Every repeat starts from nothing: the acquisition is
linked anew under an empty data root (ours) and the old side gets an empty output
folder, outside the clock. The repeats alternate the three runs (2 workers, 1 worker,
old), so that drift in the machine's load reaches all of them alike. The CPU time and
run-queue wait of each process's tree (benchmark.runqueue) say whether other processes
held the cores meanwhile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmark.common import Json, median, ratio
from benchmark.inputs import Dataset, linked_acquisition
from benchmark.memory import child_env
from benchmark.runqueue import Sched, TreeSched

FRAMES = 20
WORKERS = 2
ACQ_ID = "bench_process"


def _timed(cmd: list[str], timeout: float) -> tuple[float, str, Sched]:
    """Wall seconds of a child process from its start to its exit, its stdout, and its
    tree's CPU time and run-queue wait."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env()
    )
    with TreeSched(proc.pid) as sched:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:4])} failed ({proc.returncode}): {err[-500:]}")
    return wall, out, sched.total


def fresh_acquisition(src: Dataset, root: Path) -> Dataset:
    """The 20-frame acquisition under an empty data root (no journal, no outputs)."""
    shutil.rmtree(root, ignore_errors=True)
    return linked_acquisition(src, root, n_frames=FRAMES, acq_id=ACQ_ID)


def ours_once(
    src: Dataset, root: Path, *, workers: int, timeout: float
) -> tuple[float, int, Sched]:
    """One `segmenter segment` process on a fresh copy: seconds, objects, CPU and wait."""
    acq = fresh_acquisition(src, root)
    cmd = [sys.executable, "-m", "segmenter", "segment", str(acq.folder)]
    cmd += ["--workers", str(workers), "--no-report", "--json", "--data-root", str(root)]
    wall, out, sched = _timed(cmd, timeout)
    (summary,) = json.loads(out)["acquisitions"]
    if summary["status"] != "done" or summary["frames"] != FRAMES:
        raise RuntimeError(f"segmenter segment of {acq.folder}: {summary}")
    return wall, int(summary["objects"]), sched


def old_once(
    folder: Path, out: Path, *, min_esd_px: float, timeout: float
) -> tuple[float, int, Sched]:
    """One process of the old method on `folder`, into an empty `out`: seconds, objects,
    CPU and wait."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "benchmark.old_program", str(folder), str(out)]
    wall, stdout, sched = _timed([*cmd, "--min-esd-px", repr(min_esd_px)], timeout)
    summary = json.loads(stdout.strip().splitlines()[-1])
    if summary["frames"] != FRAMES:
        raise RuntimeError(f"the old method read {summary['frames']} frames, not {FRAMES}")
    return wall, int(summary["objects"]), sched


def measure_process(
    src: Dataset, workdir: Path, *, min_esd_px: float, repeats: int, timeout: float = 3600.0
) -> Json:
    """Median wall time of whole processes: ours with 2 and 1 workers, the old method."""
    root, old_out = workdir / "process", workdir / "process_old"
    ours: list[float] = []
    ours_1: list[float] = []
    old: list[float] = []
    objects: dict[str, set[int]] = {"ours": set(), "ours_1": set(), "old": set()}
    sched: dict[str, list[Sched]] = {"ours": [], "ours_1": [], "old": []}
    for _ in range(repeats):
        for key, runs, workers in (("ours", ours, WORKERS), ("ours_1", ours_1, 1)):
            seconds, found, used = ours_once(src, root, workers=workers, timeout=timeout)
            runs.append(seconds)
            objects[key].add(found)
            sched[key].append(used)
        folder = fresh_acquisition(src, root).folder
        seconds, found, used = old_once(folder, old_out, min_esd_px=min_esd_px, timeout=timeout)
        old.append(seconds)
        objects["old"].add(found)
        sched["old"].append(used)
    ours_s, ours_1_s, old_s = median(ours), median(ours_1), median(old)
    counts = {k: sorted(v) for k, v in objects.items()}
    return {
        "dataset": src.name,
        "width": src.width,
        "height": src.height,
        "frames": FRAMES,
        "workers": WORKERS,
        "repeats": repeats,
        "min_esd_px": min_esd_px,
        "ours_s": ours_s,
        "ours_runs_s": ours,
        "ours_1_worker_s": ours_1_s,
        "ours_1_worker_runs_s": ours_1,
        "old_s": old_s,
        "old_runs_s": old,
        "old_vs_ours": ratio(old_s, ours_s),
        "old_vs_ours_1_worker": ratio(old_s, ours_1_s),
        "ours_objects": counts["ours"][0],
        "old_objects": counts["old"][0],
        "objects_match": len({*objects["ours"], *objects["ours_1"], *objects["old"]}) == 1,
        "old_out": str(old_out),
        **_per_frame(sched),
    }


def _per_frame(sched: dict[str, list[Sched]]) -> Json:
    """`<side>_cpu_per_frame_s` and `<side>_run_queue_wait_per_frame_s`, medians."""
    out: Json = {}
    for key, name in (("ours", "ours"), ("ours_1", "ours_1_worker"), ("old", "old")):
        out[f"{name}_cpu_per_frame_s"] = median([s.cpu / FRAMES for s in sched[key]])
        out[f"{name}_run_queue_wait_per_frame_s"] = median([s.wait / FRAMES for s in sched[key]])
    return out
