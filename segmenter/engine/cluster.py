"""The engine on a Dask cluster: `ClusterPool`, the pool seam (engine.pool) over a
`distributed.Client`, for `segmenter segment --cluster ADDRESS|local:N`.

The frame loop (engine.frames, engine.dispatch) is the local one; only where tasks run
changes. Frames run `worker.tasks.run_chunk_with`, the per-frame code of the process
pool, handed the flat as an array: Dask resolves it on the worker from the flat's
future, computed on the cluster and replicated to every worker once per flat
(engine.cluster_flat). What crosses the network per frame is the task (paths, params,
the flat's key) and the result (records and crop JPEG bytes); the journal in this
process writes every file, workers write none.

Dask's futures differ from concurrent.futures' in three ways, each handled here:
- `cancel()` of a running task reports success, and the task goes on to finish on its
  worker. The future handed back is cancelled for good: its outcome is dropped, never
  committed (and, results being bytes the parent writes, it writes no crop).
- `submit` is pure by default: a retry with the same arguments would get the cached
  failure back. Every task is submitted with `pure=False`, a new key each time.
- shutting down an executor does not close its client. `close()` closes the client and
  the LocalCluster it started (never a cluster it only connected to).
A worker that dies is replaced by Dask (its nanny restarts it) and its tasks re-run
elsewhere; a task that killed `allowed-failures` workers errs with KilledWorker, which
is handed to the dispatch as a broken pool: its frames are re-run alone, and a frame
that does it again is failed, as with the process pool.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from segmenter.engine.cluster_flat import compute_cluster_flat
from segmenter.engine.cluster_future import ClusterFuture
from segmenter.engine.fault_switch import faults_for_workers
from segmenter.engine.seam import FlatField, StopEvent
from segmenter.errors import SegmenterError
from worker.records import FrameOutcome
from worker.tasks import ChunkTask, FrameRef, run_chunk_with

log = logging.getLogger(__name__)

T = TypeVar("T")
INSTALL = "--cluster needs Dask: pip install '.[cluster]' (or pip install 'dask[distributed]')"
LOCAL = re.compile(r"local:(\d+)")
DEFAULT_PORT = 8786
# A task that killed this many workers errs (KilledWorker) instead of killing more; set
# on the LocalCluster this process starts (a running scheduler keeps its own setting).
ALLOWED_FAILURES = 1


def distributed() -> Any:
    """The `distributed` module, or one line saying how to install it."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise SegmenterError(INSTALL) from None


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """Where to run: a running scheduler's address, or a LocalCluster of N processes."""

    address: str | None = None
    local_workers: int = 0

    def __str__(self) -> str:
        return self.address or f"local:{self.local_workers}"


def parse_cluster(text: str) -> ClusterSpec:
    """`local:N`, `tcp://host:port`, or `host[:port]` (port 8786, Dask's default)."""
    text = text.strip()
    if match := LOCAL.fullmatch(text):
        workers = int(match.group(1))
        if workers < 1:
            raise ValueError("local:N needs at least 1 worker")
        return ClusterSpec(local_workers=workers)
    if text.startswith("local"):
        raise ValueError(f"{text!r}: write local:N, N worker processes (e.g. local:4)")
    address = text if "://" in text else f"tcp://{text}"
    if not re.fullmatch(r"[a-z]+://[^\s/:]+(:\d+)?", address):
        raise ValueError(f"{text!r}: give a scheduler address (tcp://host:8786) or local:N")
    if address.count(":") == 1:
        address += f":{DEFAULT_PORT}"
    return ClusterSpec(address=address)


class ClusterPool:
    """The pool seam (engine.seam.Pool) over a Dask client."""

    def __init__(self, spec: ClusterSpec) -> None:
        dd = distributed()
        logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO is chatty
        self.spec = spec
        self.rebuilds = 0
        self.fallback_reason: str | None = None
        self.stop = StopEvent(threading.Event())
        self.flats: dict[str, Any] = {}  # key -> the Dask future of each flat in use
        self._cluster: Any = None
        if spec.address is None:
            self._cluster = _local_cluster(dd, spec.local_workers)
            address = self._cluster.scheduler_address
        else:
            address = spec.address
        try:
            self.client: Any = dd.Client(
                address, timeout="10s", set_as_default=False, direct_to_workers=True
            )
        except (OSError, TimeoutError) as exc:
            self._close_cluster()
            raise SegmenterError(
                f"cannot reach the Dask scheduler at {address} ({exc}); start it with "
                "`dask scheduler` and a `dask worker` per node, or use --cluster local:N"
            ) from None
        from segmenter.engine.cluster_worker import PLUGIN_NAME, WorkerSetup

        setup = WorkerSetup(faults_for_workers(), ignore_sigint=self._cluster is not None)
        self.client.register_plugin(setup, name=PLUGIN_NAME)
        self.workers = self.parallelism

    @property
    def mode(self) -> str:
        return "cluster"

    @property
    def parallelism(self) -> int:
        """Task threads of the workers there now (a worker may join or leave)."""
        threads: dict[str, int] = self.client.nthreads()
        return max(1, sum(threads.values()))

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Run `fn(*args)` on the cluster, a new key each time (a retry is a real one)."""
        return self._submit(True, fn, *args)

    def submit_chunk(self, task: ChunkTask) -> Future[list[FrameOutcome]]:
        """A task of frames, handed its flat(s) as futures, resolved on the worker."""
        return self._submit(True, run_chunk_with, task, *self._flats_of(task))

    def submit_remote(
        self, fn: Callable[..., Any], /, *args: Any, **options: Any
    ) -> ClusterFuture[None]:
        """Like submit, but the result stays on the cluster (`.remote` is its future);
        `options` go to Client.submit (workers=...)."""
        return self._submit(False, fn, *args, **options)

    def _submit(
        self, fetch: bool, fn: Callable[..., Any], /, *args: Any, **options: Any
    ) -> ClusterFuture[Any]:
        remote = self.client.submit(fn, *args, pure=False, **options)
        local: ClusterFuture[Any] = ClusterFuture(remote, fetch)
        remote.add_done_callback(local.settle)
        return local

    def _flats_of(self, task: ChunkTask) -> tuple[Any, Any]:
        previous = task.previous.flat if task.previous is not None else None
        return self.flats[task.flat.name], (
            self.flats[previous.name] if previous is not None else None
        )

    def compute_flat(self, frames: Sequence[FrameRef], shape: tuple[int, int]) -> FlatField:
        """On the cluster, kept there (engine.cluster_flat)."""
        return compute_cluster_flat(self, frames, shape)

    def rebuild(self) -> None:
        """Nothing to rebuild: Dask replaces dead workers and re-runs their tasks."""
        self.rebuilds += 1

    def close(self) -> None:
        """Close the client and the LocalCluster this pool started (Dask's executor
        shutdown leaves both open); a cluster it connected to keeps running."""
        self.flats.clear()
        try:
            self.client.close()
        finally:
            self._close_cluster()

    def _close_cluster(self) -> None:
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.close()


def _local_cluster(dd: Any, workers: int) -> Any:
    """N worker processes of one thread each on this machine, no dashboard. The Active
    Memory Manager is off so that the flat's replicas stay on every worker."""
    dask = importlib.import_module("dask")
    with dask.config.set(
        {
            "distributed.scheduler.active-memory-manager.start": False,
            "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
            "logging.distributed": "warning",
            # Dask's default MALLOC_TRIM_THRESHOLD_ freezes glibc's mmap threshold: every
            # frame-sized temporary is then mapped and faulted in anew
            "distributed.nanny.pre-spawn-environ": {
                "OMP_NUM_THREADS": 1,
                "MKL_NUM_THREADS": 1,
                "OPENBLAS_NUM_THREADS": 1,
            },
        }
    ):
        return dd.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            # a free loopback port: None is Dask's default 8787 on every interface, with a
            # warning on the user's terminal when that port is taken
            dashboard_address="127.0.0.1:0",
            # the workers' own logs: a task's failure reaches the controller as its
            # exception; at a Ctrl-C their heartbeats to the closing scheduler log ERRORs
            # with tracebacks (seen under load in the Ctrl-C test)
            silence_logs=logging.CRITICAL,
        )
