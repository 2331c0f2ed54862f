"""`Segmenter`: what the CLI and the MQTT service hold: one worker pool, `run()` for a list
of paths, and `stop()` from any thread, which returns once the engine is idle (committed
frames kept, nothing half-written, no done.txt)."""

from __future__ import annotations

import logging
import multiprocessing.forkserver
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from segmenter import archives
from segmenter.acquisition import committed_counts, find_acquisitions, load_acquisition
from segmenter.engine.events import Progress, ProgressCallback
from segmenter.engine.pool import WorkerPool
from segmenter.engine.run import AcquisitionRun
from segmenter.engine.seam import Pool
from segmenter.engine.shared_memory import sweep_stale
from segmenter.engine.source import LiveFrames
from segmenter.errors import (
    AcquisitionBusy,
    AcquisitionError,
    Interrupted,
    SegmenterError,
    storage_error,
)
from segmenter.report import after_run
from segmenter.settings import RunSettings
from segmenter.summary import AcquisitionSummary

if TYPE_CHECKING:
    from segmenter.engine.cluster import ClusterSpec

log = logging.getLogger(__name__)


def _ignore(_: Progress) -> None:
    return None


def _start_forkserver() -> None:
    """Start the pool's fork server now rather than at the first task: it imports the
    worker module (numpy, OpenCV: ~0.3 s) while this process lists the acquisitions and
    opens their journals. A server that cannot start is the pool's to report then."""
    try:
        multiprocessing.forkserver.ensure_running()
    except OSError as exc:
        log.debug("fork server not started early: %s", exc)


class Segmenter:
    """The engine the CLI and the service share: a pool, `run()`, `stop()`."""

    def __init__(self, workers: int, cluster: ClusterSpec | None = None) -> None:
        """`workers` processes here, or the Dask cluster `cluster` (engine.cluster)."""
        sweep_stale()
        self.pool: Pool
        if cluster is None:
            self.pool = WorkerPool(workers)
            if self.pool.mode == "processes":
                _start_forkserver()
        else:
            from segmenter.engine.cluster import ClusterPool  # Dask only when asked for

            self.pool = ClusterPool(cluster)
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()  # orders stop() against the start and end of a run

    def ensure_workers(self, workers: int) -> None:
        """Use `workers` processes from the next run on (call between runs only)."""
        if workers != self.pool.workers:
            self.pool.close()
            self.pool = WorkerPool(workers)

    def stop(self, wait: bool = True, timeout: float | None = None) -> bool:
        """Ask the running work to stop; with `wait`, return once the engine is idle.
        When idle there is nothing to stop: the next run is not affected."""
        with self._lock:
            if not self._idle.is_set():
                self.pool.stop.set()
        return self._idle.wait(timeout) if wait else self._idle.is_set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    @property
    def stopping(self) -> bool:
        return self.pool.stop.is_set()

    def run(
        self,
        paths: Sequence[Path],
        settings: RunSettings,
        *,
        data_root: Path,
        on_progress: ProgressCallback = _ignore,
        stop_requested: Callable[[], bool] | None = None,
    ) -> list[AcquisitionSummary]:
        """Every acquisition at or below `paths`; stops early (status interrupted) on stop.

        `stop_requested` is asked once the run has begun: a caller that asked for a stop
        before (when `stop()` found the engine idle and so ignored it) gets it honoured."""
        with self._busy(stop_requested):
            folders = [f for p in paths for f in find_acquisitions(p, settings.recursive)]
            if not folders:
                raise AcquisitionError(
                    "no acquisition (folder with metadata.json) found at or below "
                    + ", ".join(str(p) for p in paths)
                )
            return self._run_all(folders, settings, data_root=data_root, on_progress=on_progress)

    def run_live(
        self,
        source: LiveFrames,
        settings: RunSettings,
        *,
        data_root: Path,
        on_progress: ProgressCallback = _ignore,
        stop_requested: Callable[[], bool] | None = None,
    ) -> AcquisitionSummary:
        """The acquisition in `source.folder`, segmented while its frames come (live)."""
        with self._busy(stop_requested):
            return self.run_one(
                source.folder, settings, data_root=data_root, on_progress=on_progress, source=source
            )

    def run_acquisition(
        self,
        folder: Path,
        settings: RunSettings,
        *,
        data_root: Path,
        on_progress: ProgressCallback = _ignore,
        stop_requested: Callable[[], bool] | None = None,
    ) -> AcquisitionSummary:
        """One acquisition folder, already found (as the service does, to count an item's
        acquisitions and resume them one by one); stops as `run`."""
        with self._busy(stop_requested):
            return self.run_one(folder, settings, data_root=data_root, on_progress=on_progress)

    @contextmanager
    def _busy(self, stop_requested: Callable[[], bool] | None) -> Iterator[None]:
        with self._lock:
            self.pool.stop.clear()
            self._idle.clear()
            if stop_requested is not None and stop_requested():
                self.pool.stop.set()
        try:
            yield
        finally:
            with self._lock:
                self.pool.stop.clear()
                self._idle.set()

    def _run_all(
        self,
        folders: list[Path],
        settings: RunSettings,
        *,
        data_root: Path,
        on_progress: ProgressCallback,
    ) -> list[AcquisitionSummary]:
        if self.pool.mode == "cluster" and len(folders) > 1:
            from segmenter.engine.cluster_runs import run_overlapped

            return run_overlapped(
                self,
                self.pool.stop,
                folders=folders,
                settings=settings,
                data_root=data_root,
                on_progress=on_progress,
            )
        summaries: list[AcquisitionSummary] = []
        for folder in folders:
            if self.pool.stop.is_set():
                break
            summary = self.run_one(folder, settings, data_root=data_root, on_progress=on_progress)
            summaries.append(summary)
            if summary.status == "interrupted":
                break
        return summaries

    def run_one(
        self,
        folder: Path,
        settings: RunSettings,
        *,
        data_root: Path,
        on_progress: ProgressCallback,
        source: LiveFrames | None = None,
    ) -> AcquisitionSummary:
        """One acquisition; every failure is a summary with one line saying what to do."""
        started = time.monotonic()
        run: AcquisitionRun | None = None
        try:
            acq = load_acquisition(folder, data_root, require_frames=source is None)
            if acq.layout.done_file.exists() and not settings.force:
                _, objects = committed_counts(acq)  # what the earlier run made
                made = acq.run_layout().archive  # the names of its run's contract
                archive = str(made) if made.is_file() else None
                message = "already segmented (done.txt); use --force"
                return AcquisitionSummary(
                    str(folder), "skipped", len(acq.frames), objects=objects, archive=archive,
                    message=message,
                )  # fmt: skip
            if settings.ecotaxa:
                archives.check_name(acq.layout_for(settings.compat), settings.allow_same_archive)
            run = AcquisitionRun(
                acq, settings, pool=self.pool, on_progress=on_progress, source=source,
                after_archive=lambda acq, summary: after_run(acq, settings, summary),
            )  # fmt: skip
            return run.run()
        except Interrupted as exc:
            assert run is not None
            return run._summary("interrupted", message=str(exc))
        except (SegmenterError, OSError) as exc:
            if isinstance(exc, OSError):  # a storage error no step named: name its path
                exc = storage_error(Path(exc.filename or folder), exc)
            log.error("%s: %s", folder, exc, extra={"in_summary": True})  # the CLI's line
            if run is not None:
                if not isinstance(exc, AcquisitionBusy):  # for `segmenter ls`
                    run.store.record_failure(str(exc))
                return run._summary("failed", message=str(exc))
            seconds = round(time.monotonic() - started, 3)
            return AcquisitionSummary(str(folder), "failed", message=str(exc), seconds=seconds)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
