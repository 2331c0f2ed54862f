"""The pool seam: what the frame loop needs of wherever its tasks run. The local process
pool (engine.pool.WorkerPool) and the Dask pool (engine.cluster.ClusterPool) both
implement `Pool`; the dispatch, the frame loop, the flat field and the acquisition run
know only this module. It imports nothing of the engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from segmenter.errors import Interrupted
from worker.records import FrameOutcome
from worker.shared import SharedArray
from worker.tasks import ChunkTask, FrameRef

T = TypeVar("T")
WAIT_SLICE = 0.1  # seconds between two looks at the stop flag while waiting


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


class Pool(Protocol):
    """Where tasks run. `submit` runs any task function; `submit_chunk` runs a task of
    frames (each pool hands it its flat its own way); a future that fails with
    BrokenProcessPool lost its worker, and its owner calls `rebuild()` once per
    `rebuilds` epoch and runs it again."""

    @property
    def workers(self) -> int: ...

    @property
    def stop(self) -> StopEvent: ...

    @property
    def rebuilds(self) -> int: ...

    @property
    def fallback_reason(self) -> str | None: ...

    @property
    def mode(self) -> str: ...  # processes, inline or cluster

    @property
    def parallelism(self) -> int: ...

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]: ...

    def submit_chunk(self, task: ChunkTask) -> Future[list[FrameOutcome]]: ...

    def rebuild(self) -> None: ...

    def compute_flat(self, frames: Sequence[FrameRef], shape: tuple[int, int]) -> FlatField: ...

    def close(self) -> None: ...


def wait_all(
    stop: StopEvent, futures: Sequence[Future[Any]], *, what: str = "computing the flat field"
) -> None:
    """Wait for every future; on stop, cancel the rest and raise Interrupted."""
    pending = set(futures)
    while pending:
        if stop.is_set():
            for fut in pending:
                fut.cancel()
            wait(pending)
            raise Interrupted(f"stopped while {what}")
        _done, pending = wait(pending, timeout=WAIT_SLICE)
