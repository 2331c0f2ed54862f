"""Peak memory of a whole run: every process of the run's tree, sampled every ~50 ms.

A run happens in a fresh child process (`python -m benchmark.memrun`), so what the
benchmark itself holds is not counted; a thread here sums, every interval, the PSS
(proportional set size: shared pages such as the flat field's shared memory and
library code counted once across processes) and the RSS of that child and all its
descendants (forkserver, workers) read from /proc/<pid>/smaps_rollup. PSS counts a page
of shared memory only while some process has it in its page tables: the flat field's
stack, written by workers that then detach, would be missing. So the figure (`bytes`)
takes each process's PSS without its shared memory and adds the run's own segments
whole (`segmenter_<pid>_<n>` of a process of the tree: the allocated pages of those in
/dev/shm, and the size of those unlinked that a process still maps), each once. The peak
of the sums is compared between a short and a long acquisition.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from benchmark.common import Json, ratio
from benchmark.inputs import Dataset
from segmenter.engine.shared_memory import PREFIX, SHM_DIR

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


def rollup(pid: int) -> tuple[int, int, int]:
    """(PSS, RSS, PSS of shared memory) of a process in bytes; zeros when it is gone."""
    values = {"Pss:": 0, "Rss:": 0, "Pss_Shmem:": 0}
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return 0, 0, 0
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key in values:
            values[key] = int(rest.split()[0]) * 1024
    return values["Pss:"], values["Rss:"], values["Pss_Shmem:"]


def _creator(name: str) -> int | None:
    """The pid in a segment's name (`segmenter_<pid>_<n>`, shared_memory.SharedBlock)."""
    head = name.removeprefix(PREFIX).split("_", 1)[0]
    return int(head) if name.startswith(PREFIX) and head.isdigit() else None


def run_segments(pids: Collection[int], mapping: Collection[int]) -> int:
    """Bytes of the segments created by `pids`: in /dev/shm, their allocated pages (mapped
    or not); unlinked but still mapped by one of `mapping` (those of `pids` that map shared
    memory), the mapping's size. Each once."""
    sizes: dict[int, int] = {}
    for path in SHM_DIR.iterdir() if SHM_DIR.is_dir() else ():
        if _creator(path.name) in pids:
            try:
                st = path.stat()
            except OSError:
                continue
            sizes[st.st_ino] = st.st_blocks * 512
    for pid in mapping:
        try:
            maps = (PROC / str(pid) / "maps").read_text()
        except OSError:
            continue
        for line in maps.splitlines():
            if not line.endswith(" (deleted)") or f"{SHM_DIR}/{PREFIX}" not in line:
                continue
            span, _, _, _, inode, mapped = line.removesuffix(" (deleted)").split(maxsplit=5)
            if _creator(Path(mapped).name) in pids and int(inode) not in sizes:
                start, end = (int(x, 16) for x in span.split("-"))
                sizes[int(inode)] = end - start
    return sum(sizes.values())


@dataclass(frozen=True)
class TreeMemory:
    """One sample of a process tree; `bytes` is the figure: PSS without shared memory,
    plus the tree's own segments whole."""

    pss: int
    rss: int
    processes: int
    shmem_pss: int
    segments: int

    @property
    def bytes(self) -> int:
        return self.pss - self.shmem_pss + self.segments


def tree_memory(root: int) -> TreeMemory:
    """The memory of `root`'s tree (see the module's docstring)."""
    pss = rss = shmem = 0
    pids, mapping = process_tree(root), []
    for pid in pids:
        p, r, s = rollup(pid)
        pss, rss, shmem = pss + p, rss + r, shmem + s
        if s:
            mapping.append(pid)
    return TreeMemory(pss, rss, len(pids), shmem, run_segments(set(pids), mapping))


@dataclass
class Peak:
    bytes: int = 0  # the figure (TreeMemory.bytes)
    segments: int = 0  # the run's segments in that sample
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
        now, peak = tree_memory(self.root), self.peak
        if now.bytes > peak.bytes:
            peak.bytes, peak.segments = now.bytes, now.segments
        peak.pss, peak.rss = max(peak.pss, now.pss), max(peak.rss, now.rss)
        peak.processes = max(peak.processes, now.processes)
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
        "peak_bytes": peak.bytes,
        "peak_segments_bytes": peak.segments,
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
        "growth": ratio(second["peak_bytes"], first["peak_bytes"]),
        "pss_growth": ratio(second["peak_pss_bytes"], first["peak_pss_bytes"]),
        "rss_growth": ratio(second["peak_rss_bytes"], first["peak_rss_bytes"]),
    }
