"""CPU time and run-queue wait of a process tree, from /proc/<pid>/task/<tid>/schedstat.

On a shared machine a run's time is partly the time its threads were ready to run but
waited for a core that another process held. schedstat's first two fields are, per
thread, nanoseconds on a CPU and nanoseconds waiting on a run queue. A figure whose run's
wait is large against its CPU time measures the other processes as much as the run:
its target's verdict says so instead of met or missed (benchmark.targets).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from benchmark.common import Json
from benchmark.memory import PROC, process_tree

BUSY_WAIT = 0.25  # run-queue wait over CPU time above which a timing is not comparable


@dataclass(frozen=True)
class Sched:
    """Seconds on a CPU and waiting on a run queue, summed over threads."""

    cpu: float = 0.0
    wait: float = 0.0

    def __sub__(self, other: Sched) -> Sched:
        return Sched(self.cpu - other.cpu, self.wait - other.wait)


def threads(root: int) -> dict[int, Sched]:
    """Each live thread of `root`'s tree (tid: its totals so far)."""
    out = {}
    for pid in process_tree(root):
        try:
            tasks = list((PROC / str(pid) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                cpu, wait = (task / "schedstat").read_text().split()[:2]
            except (OSError, ValueError):
                continue
            out[int(task.name)] = Sched(int(cpu) / 1e9, int(wait) / 1e9)
    return out


def spent(before: dict[int, Sched], after: dict[int, Sched]) -> Sched:
    """What the threads alive at `after` spent since `before` (a thread started between
    counts from zero; one that ended between is lost, with its CPU and wait alike)."""
    total = Sched()
    for tid, now in after.items():
        d = now - before.get(tid, Sched())
        total = Sched(total.cpu + d.cpu, total.wait + d.wait)
    return total


def waited(figures: Iterable[Json], prefix: str = "") -> str | None:
    """The longest wait relative to CPU of `figures` (each with `<prefix>cpu_per_frame_s`
    and `<prefix>run_queue_wait_per_frame_s`), said when it makes a timing not comparable."""
    pairs = [(f[f"{prefix}run_queue_wait_per_frame_s"], f[f"{prefix}cpu_per_frame_s"])
             for f in figures if f"{prefix}cpu_per_frame_s" in f]  # fmt: skip
    share = {pair: pair[0] / pair[1] for pair in pairs if pair[1] > 0}
    if not share or max(share.values()) <= BUSY_WAIT:
        return None
    wait, cpu = max(share, key=lambda pair: share[pair])
    return f"run-queue wait {wait * 1000:.0f} ms/frame, {wait / cpu:.2f}x the CPU time"


def busy_lack(figures: Iterable[Json], prefix: str = "") -> list[str]:
    """[what a timing lacks] when its run waited long on the run queue (benchmark.targets)."""
    said = waited(figures, prefix)
    return [f"a free CPU ({said})"] if said else []


class TreeSched:
    """A thread that follows a child's tree until stopped, for a process that exits before
    it can be read: each thread's last totals seen (its last ~50 ms are lost)."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root, self.interval = root, interval
        self._last: dict[int, Sched] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="schedstat", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._last.update(threads(self.root))
            self._stop.wait(self.interval)

    @property
    def total(self) -> Sched:
        return spent({}, self._last)

    def __enter__(self) -> TreeSched:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
