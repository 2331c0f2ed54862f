"""Several acquisitions in flight on a cluster: while one acquisition's flat field is
computed (a few tasks, most workers idle) the frames of the one before keep the cluster
busy. Each acquisition is its own `AcquisitionRun` (its lock, journal, frame loop and
archive) in its own thread, over the one shared `ClusterPool`; Dask interleaves their
tasks. A stop stops them all; the summaries come back in folder order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from segmenter.engine.events import Progress, ProgressCallback
from segmenter.engine.seam import StopEvent
from segmenter.settings import RunSettings
from segmenter.summary import AcquisitionSummary

IN_FLIGHT = 2  # acquisitions at once: enough to cover one flat field with frames


class RunsOne(Protocol):
    @property
    def stopping(self) -> bool: ...

    def run_one(
        self, folder: Path, settings: RunSettings, *, data_root: Path, on_progress: ProgressCallback
    ) -> AcquisitionSummary: ...


def run_overlapped(
    engine: RunsOne,
    stop: StopEvent,
    *,
    folders: list[Path],
    settings: RunSettings,
    data_root: Path,
    on_progress: ProgressCallback,
) -> list[AcquisitionSummary]:
    """`engine.run_one` for every folder, IN_FLIGHT at a time; a folder not begun when a
    stop comes is left out, as in a sequential run."""
    lock = threading.Lock()

    def progress(event: Progress) -> None:
        with lock:  # one caller at a time, as the CLI's bar and the service expect
            on_progress(event)

    def one(folder: Path) -> AcquisitionSummary | None:
        if stop.is_set():
            return None
        return engine.run_one(folder, settings, data_root=data_root, on_progress=progress)

    with ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="acquisition") as threads:
        futures = [threads.submit(one, folder) for folder in folders]
        done = [fut.result() for fut in futures]
    return [s for s in done if s is not None]
