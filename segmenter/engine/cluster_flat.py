"""The flat field on a Dask cluster: its frames decoded by the workers (one task each),
the median by row strips, one per worker, each taking only its rows of every decoded
frame, the strips joined and the flat replicated to every worker once (the broadcast),
and tasks handed its key. Nothing of it passes through this
process unless the frame loop reads `array` (a debug image, a previous-frame mask).

Faults as on the process pool: a frame that cannot be decoded is left out (the count
is then made odd); a decode or a median whose worker died is re-run once, then the
frame is left out (or the acquisition fails, for the median); lost results are
recomputed by Dask from their lineage. A stop cancels the tasks and raises Interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from segmenter.engine.cluster_future import ClusterFuture
from segmenter.engine.flat_rules import odd
from segmenter.engine.seam import StopEvent, wait_all
from segmenter.errors import AcquisitionError, FrameError
from worker.shared import SharedArray
from worker.tasks import FrameRef, decode_frame, frame_rows, join_rows, median_flat

log = logging.getLogger(__name__)


class RemotePool(Protocol):
    """What the flat needs of engine.cluster.ClusterPool."""

    @property
    def stop(self) -> StopEvent: ...

    @property
    def client(self) -> Any: ...  # distributed.Client

    @property
    def flats(self) -> dict[str, Any]: ...  # key -> the Dask future of each flat in use

    def submit_remote(
        self, fn: Callable[..., Any], /, *args: Any, **options: Any
    ) -> ClusterFuture[None]: ...


class ClusterFlat:
    """A flat living on the cluster: `ref.name` is its Dask key (engine.pool.FlatField)."""

    def __init__(self, pool: RemotePool, future: Any, shape: tuple[int, int]) -> None:
        self.ref = SharedArray(str(future.key), (*shape, 3), "uint8")
        self._pool, self._future = pool, future
        self._array: npt.NDArray[np.generic] | None = None
        pool.flats[self.ref.name] = future

    @property
    def array(self) -> npt.NDArray[np.generic]:
        """The flat itself, fetched from a worker the first time it is read."""
        if self._array is None:
            if self._future is None:
                raise ValueError("the flat is closed")
            self._array = np.asarray(self._future.result())
        return self._array

    def close(self) -> None:
        """Forget it here; Dask frees it once no task in flight needs it."""
        self._pool.flats.pop(self.ref.name, None)
        self._future = self._array = None


def _outcome(pool: RemotePool, fut: Future[Any]) -> BaseException | None:
    wait_all(pool.stop, [fut])  # on stop: cancelled, Interrupted
    return fut.exception()


def compute_cluster_flat(
    pool: RemotePool, frames: Sequence[FrameRef], shape: tuple[int, int]
) -> ClusterFlat:
    """The flat of `frames` (the per-pixel median, uint8) on the cluster (engine.flat_rules)."""
    decodes = [pool.submit_remote(decode_frame, f.path, shape) for f in frames]
    wait_all(pool.stop, decodes)
    good: list[int] = []
    for i, frame in enumerate(frames):
        exc = decodes[i].exception()
        if isinstance(exc, BrokenProcessPool):  # again, alone: a frame that kills twice goes
            decodes[i] = pool.submit_remote(decode_frame, frame.path, shape)
            exc = _outcome(pool, decodes[i])
            if isinstance(exc, BrokenProcessPool):
                log.warning("flat field: skipping %s (its worker process died)", frame.name)
                continue
        if isinstance(exc, FrameError):
            log.warning("flat field: skipping %s (%s)", frame.name, exc.reason)
        elif exc is not None:
            raise exc
        else:
            good.append(i)
    if not good:
        raise AcquisitionError("none of the flat-field frames could be decoded")
    count = len(good) if len(good) == len(frames) else odd(len(good))
    inputs = [decodes[i].remote for i in good[:count]]
    for attempt in range(2):
        median = _median(pool, inputs, shape[0])
        exc = _outcome(pool, median)
        if exc is None:
            break
        if not isinstance(exc, BrokenProcessPool) or attempt == 1:
            raise AcquisitionError(f"the flat field could not be computed: {exc}")
    flat = median.remote
    del decodes, inputs  # the decoded frames go once the flat is in memory
    pool.client.replicate([flat])  # one copy per worker: tasks never carry it
    return ClusterFlat(pool, flat, shape)


def _median(pool: RemotePool, frames: list[Any], height: int) -> ClusterFuture[None]:
    """The median by row strips, strip k on worker k (others allowed if it goes), each
    fetching only its rows of the frames; then the strips joined into one array."""
    workers = list(pool.client.nthreads()) or [None]
    bands = max(1, min(len(workers), height))
    edges = [(height * k // bands, height * (k + 1) // bands) for k in range(bands)]
    strips = []
    for k, (y0, y1) in enumerate(edges):
        where = {} if workers[k] is None else {"workers": [workers[k]], "allow_other_workers": True}
        rows = [pool.submit_remote(frame_rows, f, y0, y1).remote for f in frames]
        strips.append(pool.submit_remote(median_flat, *rows, **where).remote)
    return pool.submit_remote(join_rows, *strips)
