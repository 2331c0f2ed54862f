"""Peak memory of a whole run: every process of the run's tree, sampled every ~50 ms.

A run happens in a fresh child process (`python -m benchmark.memrun`), so what the
benchmark itself holds is not counted; a thread here sums, every interval, the PSS
(proportional set size: shared pages such as the flat field's shared memory and
library code counted once across processes) and the RSS of that child and all its
descendants (forkserver, workers) read from /proc/<pid>/smaps_rollup. The peak of the
sums is compared between a short and a long acquisition.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark.common import Json, ratio
from benchmark.inputs import Dataset

PROC = Path("/proc")
INTERVAL_S = 0.05


def _children_map() -> dict[int, list[int]]:
    """parent pid -> child pids, from /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, alive now."""
    children = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def rollup(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of a process in bytes; (0, 0) when it is gone or unreadable."""
    pss = rss = 0
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            pss = int(line.split()[1]) * 1024
        elif line.startswith("Rss:"):
            rss = int(line.split()[1]) * 1024
    return pss, rss


def tree_memory(root: int) -> tuple[int, int, int]:
    """(PSS sum, RSS sum, process count) of `root`'s tree."""
    pss = rss = 0
    pids = process_tree(root)
    for pid in pids:
        p, r = rollup(pid)
        pss, rss = pss + p, rss + r
    return pss, rss, len(pids)


@dataclass
class Peak:
    pss: int = 0
    rss: int = 0
    processes: int = 0
    samples: int = 0


class TreeSampler:
    """A thread sampling a process tree until stopped; keeps the peaks."""

    def __init__(self, root: int, interval: float = INTERVAL_S) -> None:
        self.root, self.interval = root, interval
        self.peak = Peak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pss-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        pss, rss, count = tree_memory(self.root)
        peak = self.peak
        peak.pss, peak.rss = max(peak.pss, pss), max(peak.rss, rss)
        peak.processes = max(peak.processes, count)
        peak.samples += 1

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child_env() -> dict[str, str]:
    """The environment for a child Python that must import this checkout's packages."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env


def measured_run(ds: Dataset, workers: int, timeout: float = 3600.0) -> Json:
    """Segment `ds` in a child process with `workers`, sampling its tree's memory."""
    cmd = [sys.executable, "-m", "benchmark.memrun", str(ds.folder), str(ds.data_root)]
    cmd.append(str(workers))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    with TreeSampler(proc.pid) as sampler:
        out, err = proc.communicate(timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"memory run failed ({proc.returncode}): {err.decode()[-500:]}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    peak = sampler.peak
    return {
        "frames": len(ds.frames),
        "workers": workers,
        "objects": summary["objects"],
        "status": summary["status"],
        "wall_s": wall,
        "peak_pss_bytes": peak.pss,
        "peak_rss_bytes": peak.rss,
        "peak_processes": peak.processes,
        "samples": peak.samples,
    }


def measure_growth(short: Dataset, long: Dataset, workers: int) -> Json:
    """Peak memory of a short and a long acquisition, and the growth ratio."""
    first = measured_run(short, workers)
    second = measured_run(long, workers)
    return {
        "workers": workers,
        "interval_s": INTERVAL_S,
        "short": first,
        "long": second,
        "pss_growth": ratio(second["peak_pss_bytes"], first["peak_pss_bytes"]),
        "rss_growth": ratio(second["peak_rss_bytes"], first["peak_rss_bytes"]),
    }
