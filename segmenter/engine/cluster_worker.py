"""What a Dask worker runs once when it joins (imported on the workers, with Dask)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from distributed import WorkerPlugin

from worker.faults import FaultPlan
from worker.tasks import init_worker

PLUGIN_NAME = "planktoscope-segmenter"


class WorkerSetup(WorkerPlugin):
    """What init_worker does for the process pool, per Dask worker, and for each worker
    that joins later: one OpenCV thread per task thread, the test suite's fault hook
    (engine.fault_switch.allow_test_faults). No parent watch: a Dask worker belongs to its
    nanny. The workers of a LocalCluster this process started ignore SIGINT, as the
    process pool's do: a Ctrl-C reaches the whole process group, and it is for the
    controller to decide what it means (a stop); a cluster's own workers are left alone."""

    def __init__(self, faults: FaultPlan | None, ignore_sigint: bool = False) -> None:
        self.faults = faults
        self.ignore_sigint = ignore_sigint

    def setup(self, worker: Any) -> None:
        init_worker(None, 1, self.faults, own_process=False)
        if self.ignore_sigint and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
