"""One run of the engine on the service's worker thread, and the stops that reach it.

A queue item's acquisitions and a live acquisition both go through `EngineJob.run`: the
worker thread calls it, blocking; the command thread stops it under the service's lock.
A stop reaches the engine through `Segmenter.stop(wait=False)` while the job is inside
the engine, and through `stop_requested` (which the engine asks once its run has begun)
when it came just before: `Segmenter.stop` ignores a stop while the engine is idle.
`run` returns once the engine is idle: committed frames kept, nothing half-written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from segmenter.engine import Progress, Segmenter

T = TypeVar("T")
OnProgress = Callable[[Progress], None]
StopRequested = Callable[[], bool]


class EngineJob:
    """Work the worker thread runs on `engine` with `workers` processes (the engine is
    resized to them before it starts); `lock` is the service's condition."""

    def __init__(
        self,
        engine: Segmenter,
        lock: threading.Condition,
        *,
        workers: int,
        beat: Callable[[], None],
    ) -> None:
        self.engine, self.lock, self.workers = engine, lock, workers
        self.beat = beat  # the engine made progress (the watchdog follows it)
        self.stops = 0  # stop requests that reached this job
        self.preempted = False  # it gives way to a live acquisition (and runs again after)
        self._in_engine = False  # inside the engine's run: a stop must reach the engine

    def stopping(self) -> bool:
        """Was the job asked to stop or to give way? (read without the lock: the engine
        asks it under its own lock, which the service takes under this one)"""
        return self.stops > 0 or self.preempted

    def stop(self) -> None:
        """A stop (under the lock): the engine stops at the next frame boundary."""
        self.stops += 1
        self._interrupt()

    def give_way(self) -> bool:
        """Give way to a live acquisition (under the lock); False if it already does."""
        if self.preempted:
            return False
        self.preempted = True
        self._interrupt()
        return True

    def _interrupt(self) -> None:
        if self._in_engine:
            self.engine.stop(wait=False)  # sets a flag; run() returns at a frame boundary

    def run(
        self,
        start: Callable[[OnProgress, StopRequested], T],
        *,
        on_progress: OnProgress,
    ) -> T | None:
        """`start(on_progress, stop_requested)` on the engine with `workers` processes;
        None, without starting, if a stop or a live acquisition came first."""
        with self.lock:
            if self.stopping():
                return None
            self._in_engine = True

        def progress(event: Progress) -> None:
            self.beat()
            on_progress(event)

        try:
            self.engine.ensure_workers(self.workers)
            return start(progress, self.stopping)
        finally:
            self.engine.wait_idle()
            with self.lock:
                self._in_engine = False
