"""What a Dask worker runs once when it joins (imported on the workers, with Dask)."""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin

from worker.tasks import init_worker

PLUGIN_NAME = "planktoscope-segmenter"


class WorkerSetup(WorkerPlugin):
    """What init_worker does for the process pool, per Dask worker, and for each worker
    that joins later: one OpenCV thread per task thread, the test suite's fault hook
    (engine.pool.allow_test_faults). No SIGINT handling and no parent watch: a Dask
    worker belongs to its nanny, not to this process."""

    def __init__(self, faults: str | None) -> None:
        self.faults = faults

    def setup(self, worker: Any) -> None:
        init_worker(None, 1, self.faults, own_process=False)
