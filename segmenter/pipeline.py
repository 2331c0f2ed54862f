"""Runs acquisitions: resume or start, flat, frames, archive, done.txt.

`Segmenter` is what the CLI and the MQTT service hold: one worker pool, `run()` for a
list of paths, and `stop()` from any thread, which returns once the engine is idle
(committed frames kept, nothing half-written, no done.txt).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segmenter import ecotaxa
from segmenter.acquisition import Acquisition, find_acquisitions, load_acquisition
from segmenter.config import Params, RunSettings
from segmenter.engine import WorkerPool
from segmenter.errors import AcquisitionError, Interrupted, SegmenterError, storage_error
from segmenter.imageio import jpeg_size
from segmenter.scheduler import FrameScheduler, RunState
from segmenter.shm import sweep_stale
from segmenter.streamer import FrameStore, acquisition_lock, atomic_write, remove_temporaries
from segmenter.worker import FrameRef

log = logging.getLogger(__name__)

HEADER_BYTES = 65536  # where a frame's JPEG header (after its EXIF) is found


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress event; adapters (terminal bar, MQTT) decide how often to show it."""

    phase: str  # "start", "flat", "frame", "archive", "end"
    acquisition: Path
    done: int
    total: int
    objects: int
    failed: int
    frame: str | None = None
    elapsed: float = 0.0


ProgressCallback = Callable[[Progress], None]


@dataclass
class AcquisitionSummary:
    path: str
    status: str  # done, skipped, interrupted, failed
    frames: int = 0
    failed_frames: list[dict[str, str]] = field(default_factory=list)
    objects: int = 0
    archive: str | None = None
    seconds: float = 0.0
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def frame_shape(frames: Sequence[Path]) -> tuple[int, int]:
    """(height, width) of the acquisition: the size most frames' JPEG headers give (the
    first frame may be the odd one out). Frames of another size fail one by one."""
    sizes: Counter[tuple[int, int]] = Counter()
    for path in frames:
        try:
            with open(path, "rb") as fh:
                size = jpeg_size(fh.read(HEADER_BYTES))
        except OSError:
            continue
        if size is not None:
            sizes[size[1], size[0]] += 1
    if not sizes:
        raise AcquisitionError(f"{frames[0].parent}: no frame has a readable JPEG header")
    return sizes.most_common(1)[0][0]


def process_columns(
    acq: Acquisition, params: Params, settings: RunSettings, manifest: dict[str, Any]
) -> dict[str, Any]:
    """The baseline's process columns, in its order (SPEC 2.7)."""
    run_id = settings.process_id or manifest["process_uuid"]
    project, sample = (text.replace(" ", "_") for text in (acq.project, acq.sample_id))
    return {
        "process_datetime": manifest["process_datetime"],
        "process_uuid": manifest["process_uuid"],
        "process_id": f"{project}_{sample}_{run_id}",
        **params.step_columns(),
    }


class AcquisitionRun:
    """One acquisition, from its folder to its archive."""

    def __init__(
        self,
        acq: Acquisition,
        settings: RunSettings,
        pool: WorkerPool,
        on_progress: ProgressCallback,
    ) -> None:
        self.acq, self.settings, self.pool = acq, settings, pool
        self.on_progress = on_progress
        self.params = settings.params(acq.pixel_size_um)
        self.store = FrameStore(acq.objects_dir)
        self.started = time.monotonic()
        self.state = RunState()

    def _emit(self, phase: str, frame: str | None = None) -> None:
        done = len(self.state.committed)
        failed = sum(1 for f in self.state.committed if f.failed is not None)
        self.on_progress(
            Progress(
                phase,
                self.acq.path,
                done,
                len(self.acq.frames),
                self.state.objects,
                failed,
                frame,
                time.monotonic() - self.started,
            )
        )

    def _forget_outputs(self) -> None:
        self.store.clear()
        for path in (self.acq.archive, self.acq.done_file):
            path.unlink(missing_ok=True)

    def run(self) -> AcquisitionSummary:
        """Segment and archive; one process at a time per acquisition (a second one is
        told which process holds it)."""
        manifest = {
            "run": {"params": asdict(self.params), "frames": [p.name for p in self.acq.frames]},
            "process_uuid": str(uuid.uuid4()),
            "process_datetime": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        }
        ecotaxa.build_columns(self._tsv_values(manifest))  # bad metadata fails before any work
        with acquisition_lock(self.acq.objects_dir):
            if self.settings.force:
                self._forget_outputs()
            return self._run_locked(manifest)

    def _run_locked(self, manifest: dict[str, Any]) -> AcquisitionSummary:
        acq = self.acq
        self._remove_temporaries()
        manifest, committed = self.store.open(manifest)
        n = len(acq.frames)
        self.state = RunState.replay(committed, n, self.params)
        if committed:
            log.info("%s: resuming after %d committed frames", acq.rel, len(committed))
        del committed  # their objects are read back from the JSONL for the archive
        self._emit("start")
        refs = [FrameRef(i, str(p)) for i, p in enumerate(acq.frames)]
        scheduler = FrameScheduler(
            self.pool,
            refs,
            frame_shape(acq.frames),
            self.params,
            self.store,
            self.state,
            lambda f: self._emit("frame", f.name),
            self._on_flat,
        )
        scheduler.run()
        self._check_failures()
        self._emit("archive")
        archive = self._write_outputs(manifest)
        return self._summary("done", archive)

    def _check_failures(self) -> None:
        """More than half of the frames failed: not an acquisition to archive."""
        failed = [f for f in self.state.committed if f.failed is not None]
        n = len(self.acq.frames)
        if 2 * len(failed) > n:
            raise AcquisitionError(
                f"{len(failed)} of {n} frames failed (first: {failed[0].name}: "
                f"{failed[0].failed}); not archived: fix the frames and run again"
            )

    def _on_flat(self, flat_id: int, flat: np.ndarray) -> None:
        self._emit("flat")
        if not self.settings.keep:
            return
        name = "flat_color.jpg" if flat_id == 0 else f"flat_{flat_id:05d}.jpg"
        try:
            self.acq.clean_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(self.acq.clean_dir, exc) from exc
        ok, data = cv2.imencode(".jpg", np.right_shift(flat, 8).astype(np.uint8))
        if ok:
            atomic_write(self.acq.clean_dir / name, bytes(data))

    def _remove_temporaries(self) -> None:
        """Temporary files of a run that was killed (never visible under a final name)."""
        acq, state = self.acq, self.store.state_dir
        folders = [acq.objects_dir, state, state / "frames", acq.clean_dir]
        removed = sum(remove_temporaries(folder) for folder in folders)
        removed += remove_temporaries(acq.archive.parent, f".{acq.archive.name}.")
        removed += remove_temporaries(acq.path, f".{acq.done_file.name}.")
        if removed:
            log.info("%s: removed %d temporary file(s) of an interrupted run", acq.rel, removed)

    def _tsv_values(self, manifest: dict[str, Any]) -> ecotaxa.AcquisitionCells:
        """The per-acquisition TSV cells: metadata, the baseline's process columns, ours."""
        process = process_columns(self.acq, self.params, self.settings, manifest)
        return ecotaxa.AcquisitionCells(self.acq.metadata, process, self.params.extra_columns())

    def _write_outputs(self, manifest: dict[str, Any]) -> str | None:
        acq = self.acq
        n = len(self.state.committed)
        self.store.remove_stale_crops(o.img_file_name for o in self.store.objects(n))
        tsv = acq.objects_dir / acq.tsv_name
        ecotaxa.write_tsv(tsv, self._tsv_values(manifest), self.store.objects(n))
        archive = None
        if self.settings.ecotaxa:
            try:
                acq.archive.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error(acq.archive.parent, exc) from exc
            ecotaxa.write_archive(acq.archive, tsv, acq.objects_dir, self.store.objects(n))
            archive = str(acq.archive)
        stamp = datetime.now(UTC).isoformat(timespec="seconds") + "\n"
        atomic_write(acq.done_file, stamp.encode(), durable=True)
        return archive

    def _summary(
        self, status: str, archive: str | None = None, message: str | None = None
    ) -> AcquisitionSummary:
        failed = [f for f in self.state.committed if f.failed is not None]
        return AcquisitionSummary(
            str(self.acq.path),
            status,
            len(self.acq.frames),
            [{"name": f.name, "reason": f.failed or ""} for f in failed],
            self.state.objects,
            archive,
            round(time.monotonic() - self.started, 3),
            message,
        )


def _ignore(_: Progress) -> None:
    return None


class Segmenter:
    """The engine the CLI and the service share: a pool, `run()`, `stop()`."""

    def __init__(self, workers: int) -> None:
        sweep_stale()
        self.pool = WorkerPool(workers)
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
        data_root: Path,
        on_progress: ProgressCallback = _ignore,
        stop_requested: Callable[[], bool] | None = None,
    ) -> list[AcquisitionSummary]:
        """Every acquisition at or below `paths`; stops early (status interrupted) on stop.

        `stop_requested` is asked once the run has begun: a caller that asked for a stop
        before (when `stop()` found the engine idle and so ignored it) gets it honoured."""
        with self._lock:
            self.pool.stop.clear()
            self._idle.clear()
            if stop_requested is not None and stop_requested():
                self.pool.stop.set()
        try:
            folders = [f for p in paths for f in find_acquisitions(p, settings.recursive)]
            if not folders:
                raise AcquisitionError(
                    "no acquisition (folder with metadata.json) found at or below "
                    + ", ".join(str(p) for p in paths)
                )
            return self._run_all(folders, settings, data_root, on_progress)
        finally:
            with self._lock:
                self.pool.stop.clear()
                self._idle.set()

    def _run_all(
        self,
        folders: list[Path],
        settings: RunSettings,
        data_root: Path,
        on_progress: ProgressCallback,
    ) -> list[AcquisitionSummary]:
        summaries: list[AcquisitionSummary] = []
        for folder in folders:
            if self.pool.stop.is_set():
                break
            summary = self.run_one(folder, settings, data_root, on_progress)
            summaries.append(summary)
            if summary.status == "interrupted":
                break
        return summaries

    def run_one(
        self, folder: Path, settings: RunSettings, data_root: Path, on_progress: ProgressCallback
    ) -> AcquisitionSummary:
        """One acquisition; every failure is a summary with one line saying what to do."""
        started = time.monotonic()
        run: AcquisitionRun | None = None
        try:
            acq = load_acquisition(folder, data_root)
            if acq.done_file.exists() and not settings.force:
                return AcquisitionSummary(
                    str(folder),
                    "skipped",
                    len(acq.frames),
                    message="already segmented (done.txt); use --force",
                )
            run = AcquisitionRun(acq, settings, self.pool, on_progress)
            return run.run()
        except Interrupted as exc:
            assert run is not None
            return run._summary("interrupted", message=str(exc))
        except (SegmenterError, OSError) as exc:
            if isinstance(exc, OSError):  # a storage error no step named: name its path
                exc = storage_error(Path(exc.filename or folder), exc)
            log.error("%s: %s", folder, exc)
            if run is not None:
                return run._summary("failed", message=str(exc))
            seconds = round(time.monotonic() - started, 3)
            return AcquisitionSummary(str(folder), "failed", message=str(exc), seconds=seconds)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
