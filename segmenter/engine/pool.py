"""Where tasks run: a process pool behind the pool seam (engine.seam.Pool), or the
calling process.

`WorkerPool` hides which `concurrent.futures.Executor` runs the tasks. The default is a
ProcessPoolExecutor on the forkserver start method (safe beside the MQTT thread, and
quick to start workers because the server preloads the worker module). A broken pool
is rebuilt; when no pool can be had, tasks run inline and `mode` says so. Only the
thread that owns the pool submits to it, so a stop never races a shutdown.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from segmenter.engine.fault_switch import faults_for_workers
from segmenter.engine.flatfield import compute_flat
from segmenter.engine.seam import FlatField, StopEvent
from worker.records import FrameOutcome
from worker.tasks import ChunkTask, FrameRef, init_worker, run_chunk

log = logging.getLogger(__name__)

T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each task at submit time in the calling process (`--workers 1`)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)
        return future


class WorkerPool:
    """A process pool of `workers` processes (inline when 1), rebuilt when it breaks."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.rebuilds = 0
        self.fallback_reason: str | None = None
        self._faults = faults_for_workers()  # the test suite's; None in production
        self._ctx = mp.get_context("forkserver") if self.workers > 1 else None
        if self._ctx is not None:
            self._ctx.set_forkserver_preload(["worker.tasks"])
            self.stop = StopEvent(self._ctx.Event())
        else:
            self.stop = StopEvent(threading.Event())
        self._executor: Executor = self._create()

    @property
    def mode(self) -> str:
        return "processes" if isinstance(self._executor, ProcessPoolExecutor) else "inline"

    @property
    def parallelism(self) -> int:
        return self.workers if self.mode == "processes" else 1

    def _inline(self) -> Executor:
        init_worker(self.stop.raw, 0, self._faults, own_process=False)
        return InlineExecutor()

    def _create(self) -> Executor:
        if self._ctx is None:
            return self._inline()
        try:
            return ProcessPoolExecutor(
                self.workers,
                mp_context=self._ctx,
                initializer=init_worker,
                initargs=(self.stop.raw, 1, self._faults, True, os.getpid()),
            )
        except (OSError, ValueError) as exc:
            return self._fall_back(f"cannot start worker processes: {exc}")

    def _fall_back(self, reason: str) -> Executor:
        log.warning("%s; continuing in one process", reason)
        self.fallback_reason = reason
        return self._inline()

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Submit to the pool; a pool found broken here is rebuilt first (the futures it
        lost fail with BrokenProcessPool and are retried by their owner)."""
        try:
            return self._executor.submit(fn, *args)
        except BrokenProcessPool:
            self.rebuild()
            return self._executor.submit(fn, *args)

    def rebuild(self) -> None:
        """Replace a broken pool. Never inline: a frame that kills its worker would kill
        this process; the scheduler isolates such frames instead."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.rebuilds += 1
        log.warning("a worker process died; starting a new pool (%d)", self.rebuilds)
        self._executor = self._create()

    def submit_chunk(self, task: ChunkTask) -> Future[list[FrameOutcome]]:
        """A task of frames; its flat is in shared memory, named in the task."""
        return self.submit(run_chunk, task)

    def compute_flat(self, frames: Sequence[FrameRef], shape: tuple[int, int]) -> FlatField:
        """The flat of `frames` (engine.flatfield: on the pool, into shared memory)."""
        return compute_flat(self, frames, shape)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
