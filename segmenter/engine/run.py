"""One acquisition from its folder to its archive: resume or start, flat field and frames
(engine.frames), the TSV and zip (streamer.ecotaxa), done.txt."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segmenter.acquisition import Acquisition
from segmenter.engine.events import Progress, ProgressCallback
from segmenter.engine.frames import FrameScheduler, RunState
from segmenter.engine.pool import FlatField, WorkerPool
from segmenter.errors import AcquisitionError, storage_error
from segmenter.settings import RunSettings
from streamer import ecotaxa
from streamer.files import atomic_write, remove_temporaries
from streamer.journal import CommittedFrame, FrameStore
from streamer.layout import acquisition_lock
from worker.decode import jpeg_size
from worker.params import Params
from worker.tasks import FrameRef

log = logging.getLogger(__name__)

HEADER_BYTES = 65536  # where a frame's JPEG header (after its EXIF) is found


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
            if 2 * sizes[size[1], size[0]] > len(frames):
                break  # a majority: the other headers cannot change the answer
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
        self.layout = acq.layout
        self.store = FrameStore(self.layout.objects_dir)
        self.started = time.monotonic()
        self.state = RunState()

    def _emit(self, phase: str, frame: CommittedFrame | None = None) -> None:
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
                frame.name if frame else None,
                time.monotonic() - self.started,
                frame.objects if frame else (),
            )
        )

    def _forget_outputs(self) -> None:
        self.store.clear()
        for path in (self.layout.archive, self.layout.done_file):
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
        with acquisition_lock(self.layout.objects_dir):
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
            lambda f: self._emit("frame", f),
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

    def _on_flat(self, flat_from: int, flat: FlatField) -> None:
        self._emit("flat")
        if not self.settings.keep:
            return
        name = "flat_color.jpg" if flat_from == 0 else f"flat_{flat_from:05d}.jpg"
        try:
            self.layout.clean_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(self.layout.clean_dir, exc) from exc
        ok, data = cv2.imencode(".jpg", np.right_shift(flat.array, 8).astype(np.uint8))
        if ok:
            atomic_write(self.layout.clean_dir / name, bytes(data))

    def _remove_temporaries(self) -> None:
        """Temporary files of a run that was killed (never visible under a final name)."""
        acq, state = self.acq, self.store.state_dir
        folders = [self.layout.objects_dir, state, state / "frames", self.layout.clean_dir]
        removed = sum(remove_temporaries(folder) for folder in folders)
        removed += remove_temporaries(self.layout.archive.parent, f".{self.layout.archive.name}.")
        removed += remove_temporaries(acq.path, f".{self.layout.done_file.name}.")
        if removed:
            log.info("%s: removed %d temporary file(s) of an interrupted run", acq.rel, removed)

    def _tsv_values(self, manifest: dict[str, Any]) -> ecotaxa.AcquisitionCells:
        """The per-acquisition TSV cells: metadata, the baseline's process columns, ours."""
        process = process_columns(self.acq, self.params, self.settings, manifest)
        return ecotaxa.AcquisitionCells(self.acq.metadata, process, self.params.extra_columns())

    def _write_outputs(self, manifest: dict[str, Any]) -> str | None:
        n = len(self.state.committed)
        self.store.remove_stale_crops(o.img_file_name for o in self.store.objects(n))
        tsv = self.layout.tsv
        ecotaxa.write_tsv(tsv, self._tsv_values(manifest), self.store.objects(n))
        archive = None
        if self.settings.ecotaxa:
            try:
                self.layout.archive.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error(self.layout.archive.parent, exc) from exc
            ecotaxa.write_archive(
                self.layout.archive, tsv, self.layout.objects_dir, self.store.objects(n)
            )
            archive = str(self.layout.archive)
        stamp = datetime.now(UTC).isoformat(timespec="seconds") + "\n"
        atomic_write(self.layout.done_file, stamp.encode(), durable=True)
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
