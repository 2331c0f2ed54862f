"""Where tasks run: a process pool behind a small seam, or the calling process.

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
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from worker.shared import SharedArray
from worker.tasks import FrameRef, init_worker

log = logging.getLogger(__name__)

T = TypeVar("T")
FAULTS_ENV = "SEGMENTER_TEST_FAULTS"  # fault injection, see allow_test_faults()
_faults_allowed = False
_faults_warned = False


def allow_test_faults() -> None:
    """Honour FAULTS_ENV from now on. Only the test suite calls this (tests/conftest.py):
    in production the variable is ignored, with a warning."""
    global _faults_allowed
    _faults_allowed = True


def _test_faults() -> str | None:
    global _faults_warned
    value = os.environ.get(FAULTS_ENV)
    if value and not _faults_allowed:
        if not _faults_warned:
            log.warning("%s is set and ignored: fault injection is for the test suite", FAULTS_ENV)
            _faults_warned = True
        return None
    return value


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


class StopEvent:
    """A stop flag the workers can read: a multiprocessing Event or a thread Event."""

    def __init__(self, event: Any) -> None:
        self._event = event

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return bool(self._event.is_set())

    @property
    def raw(self) -> Any:
        return self._event


class FlatField(Protocol):
    """A computed flat as the frame loop holds it: `ref` goes into the tasks, `array` is
    read by the parent (debug image, previous-frame masks), `close()` frees it."""

    ref: SharedArray

    @property
    def array(self) -> npt.NDArray[np.generic]: ...

    def close(self) -> None: ...


class WorkerPool:
    """A process pool of `workers` processes (inline when 1), rebuilt when it breaks."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.rebuilds = 0
        self.fallback_reason: str | None = None
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
        init_worker(self.stop.raw, 0, _test_faults(), own_process=False)
        return InlineExecutor()

    def _create(self) -> Executor:
        if self._ctx is None:
            return self._inline()
        try:
            return ProcessPoolExecutor(
                self.workers,
                mp_context=self._ctx,
                initializer=init_worker,
                initargs=(self.stop.raw, 1, _test_faults(), True, os.getpid()),
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

    def compute_flat(self, frames: Sequence[FrameRef], shape: tuple[int, int]) -> FlatField:
        """The flat of `frames` (engine.flatfield: on the pool, into shared memory); a
        pool whose workers share no memory with this process computes it its own way."""
        from segmenter.engine.flatfield import compute_flat  # it imports this module

        return compute_flat(self, frames, shape)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
