"""One acquisition from its folder to its archive: resume or start, flat field and frames
(engine.frames), the TSV (its own cells: segmenter.tsv_cells) and zip (streamer.ecotaxa),
the caller's `after_archive` (the report, engine.segmenter), done.txt."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from segmenter.acquisition import Acquisition
from segmenter.engine.events import FramePreview, LiveState, Progress, ProgressCallback
from segmenter.engine.flowcell import FlowCell
from segmenter.engine.frames import FrameScheduler
from segmenter.engine.preview import Previews
from segmenter.engine.run_state import RunState
from segmenter.engine.seam import FlatField, Pool
from segmenter.engine.source import BatchFrames, FrameSource
from segmenter.errors import AcquisitionError
from segmenter.qc import QCLevels, QCWatch
from segmenter.settings import RunSettings
from segmenter.summary import AcquisitionSummary
from segmenter.tsv_cells import tsv_cells
from streamer import contract, ecotaxa
from streamer.archive import ArchiveWriter
from streamer.files import atomic_write
from streamer.journal import CommittedFrame, FrameStore
from streamer.layout import acquisition_lock
from streamer.outputs import open_archive, remove_leftovers, write_tsv_and_archive
from streamer.owned import Outputs, run_outputs

log = logging.getLogger(__name__)
RESUME_WAIT = 3.0  # seconds a live resume waits for the watcher to find the committed frames
# what the runner does once the archive is written, before done.txt (the report)
AfterArchive = Callable[[Acquisition, AcquisitionSummary], AcquisitionSummary]


def _as_is(_acq: Acquisition, summary: AcquisitionSummary) -> AcquisitionSummary:
    return summary


class AcquisitionRun:
    """One acquisition, from its folder to its archive."""

    def __init__(
        self,
        acq: Acquisition,
        settings: RunSettings,
        *,
        pool: Pool,
        on_progress: ProgressCallback,
        source: FrameSource | None = None,
        after_archive: AfterArchive = _as_is,
    ) -> None:
        """`after_archive` is called with the summary once the archive is written, in
        the acquisition's lock and before done.txt (a run killed before it is resumed)."""
        self.acq, self.settings, self.pool = acq, settings, pool
        self.after_archive = after_archive
        self.on_progress = on_progress
        self.source: FrameSource = source or BatchFrames(acq.frames)
        self.scheduler: FrameScheduler | None = None
        self.params = settings.params(acq.pixel_size_um)
        self.layout = acq.layout_for(settings.compat)
        self.store = FrameStore(self.layout.objects_dir)
        self.outputs = Outputs(self.layout)  # what it wrote beside the journal
        self.flow_cell = FlowCell(self.layout, self.outputs, keep=settings.keep)
        self.previews = Previews(settings.preview_s) if settings.preview_s > 0 else None
        self.started = time.monotonic()
        self.state = RunState()
        self.qc = QCWatch(QCLevels.of(settings))

    @property
    def total(self) -> int:
        """The frames of the acquisition, as far as they are known."""
        seen = len(self.source.frames)
        return seen if self.source.ended else max(seen, self.source.announced or 0)

    def _emit(self, phase: str, frame: CommittedFrame | None = None) -> None:
        done = len(self.state.committed)
        failed = sum(1 for f in self.state.committed if f.failed is not None)
        self.on_progress(
            Progress(
                phase,
                self.acq.path,
                done,
                self.total,
                self.state.objects,
                failed,
                frame.name if frame else None,
                time.monotonic() - self.started,
                frame.objects if frame else (),
                self._live_state(done) if self.source.live else None,
                self.settings.compat,
                self.params.pixel_size_um,
                self._preview(frame),
                frame.qc if frame else None,
                tuple(self.qc.warnings),
            )
        )

    def _preview(self, frame: CommittedFrame | None) -> FramePreview | None:
        if self.previews is None or frame is None:
            return None
        return self.previews.of(frame, self.scheduler, self.qc.warnings)

    def _on_commit(self, frame: CommittedFrame) -> None:
        """A frame committed: its QC warnings (each once, logged), then its event."""
        for warning in self.qc.add(frame):
            log.warning("%s: %s", self.acq.rel, warning.message)
        self._emit("frame", frame)

    def _live_state(self, done: int) -> LiveState:
        source = self.source
        seen = len(source.frames)
        lag = seen - done
        waiting_flat = self.scheduler is not None and self.scheduler.flat is None
        if source.ended:
            state = "finishing"
        elif lag == 0 or waiting_flat:
            state = "waiting"
        elif lag <= self.pool.parallelism:
            state = "keeping up"
        else:
            state = "lagging"
        return LiveState(seen, source.announced, state, lag, source.end_reason)

    def _forget_outputs(self) -> None:
        self.store.clear()
        self.outputs.remove(self.layout.archive)
        self.layout.done_file.unlink(missing_ok=True)

    def run(self) -> AcquisitionSummary:
        """Segment and archive; one process at a time per acquisition (a second one is
        told which process holds it)."""
        frames: dict[str, Any] = (
            {"live": True}  # the frames are checked as they come (`_check_live_resume`)
            if self.source.live
            else {"frames": [p.name for p in self.source.frames]}
        )
        manifest = {
            # `records`: journals made before the raw values of 2026-06 start over
            "run": {"params": asdict(self.params), "records": contract.NEW, **frames},
            "compat": self.settings.compat,
            "process_uuid": str(uuid.uuid4()),
            "process_datetime": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            "process_id": self.settings.process_id,  # for `segmenter export`
        }
        ecotaxa.build_columns(self._tsv_values(manifest))  # bad metadata fails before any work
        with acquisition_lock(self.layout.objects_dir):
            settings = self.settings  # what is not ours is refused before any work
            self.outputs.claim(
                run_outputs(
                    self.layout, settings.ecotaxa, report=settings.report, keep=settings.keep
                ),
                shared=settings.allow_same_archive,
            )
            if self.settings.force:
                self._forget_outputs()
            return self._run_locked(manifest)

    def _run_locked(self, manifest: dict[str, Any]) -> AcquisitionSummary:
        acq = self.acq
        self._remove_temporaries()
        compat = manifest["compat"]
        manifest, committed = self.store.open(manifest)
        if committed and self.source.live and not self._live_resumable(committed):
            self.store.clear()
            manifest, committed = self.store.open(manifest)
        if manifest.get("compat") != compat:  # resumed under another contract
            manifest = {**manifest, "compat": compat}
            self.store.set_manifest(manifest)
        self.state = RunState.replay(committed, self.params)
        for frame in committed:  # warnings of the committed prefix: said by its run
            self.qc.add(frame)
        if committed:
            log.info("%s: resuming after %d committed frames", acq.rel, len(committed))
        del committed  # their objects are read back from the JSONL for the archive
        writer = self._open_archive()
        try:
            return self._segment(manifest, writer)
        finally:
            self.store.on_commit = None
            if writer is not None:
                writer.abort()  # unless finished: the zip is whole or not there

    def _segment(
        self, manifest: dict[str, Any], writer: ArchiveWriter | None
    ) -> AcquisitionSummary:
        self._emit("start")
        self.scheduler = FrameScheduler(
            self.pool,
            self.source,
            params=self.params,
            store=self.store,
            state=self.state,
            on_commit=self._on_commit,
            on_flat=self._on_flat,
            on_news=lambda: self._emit("live"),
            previews=self.previews,
        )
        self.scheduler.run()
        self._check_failures()
        self._emit("archive")
        archive = self._write_outputs(manifest, writer)
        summary = self.after_archive(self.acq, self._summary("done", archive))
        self._write_done()  # last: a run killed before it (the report too) is resumed
        return summary

    def _live_resumable(self, committed: list[CommittedFrame]) -> bool:
        """A live run resumes when its committed frames are the first frames found now
        (the watcher may need a moment to find them again)."""
        deadline = time.monotonic() + RESUME_WAIT
        while len(self.source.frames) < len(committed) and not self.source.ended:
            if time.monotonic() > deadline:
                break
            self.source.refresh(0.2)
        names = [p.name for p in self.source.frames[: len(committed)]]
        if names == [f.name for f in committed]:
            return True
        log.info("%s: the frames found differ from the committed ones: starting over", self.acq.rel)
        return False

    def _check_failures(self) -> None:
        """More than half of the frames failed: not an acquisition to archive."""
        failed = [f for f in self.state.committed if f.failed is not None]
        n = len(self.source.frames)
        if n == 0:
            raise AcquisitionError(f"{self.acq.path}: no frame came; nothing to archive")
        if 2 * len(failed) > n:
            raise AcquisitionError(
                f"{len(failed)} of {n} frames failed (first: {failed[0].name}: "
                f"{failed[0].failed}); not archived: fix the frames and run again"
            )

    def _on_flat(self, flat_from: int, flat: FlatField) -> None:
        self._emit("flat")
        self.flow_cell.on_flat(flat_from, flat)

    def _remove_temporaries(self) -> None:
        """Temporary files of a run that was killed (never visible under a final name)."""
        removed = remove_leftovers(self.layout, self.store)
        if removed:
            log.info(
                "%s: removed %d temporary file(s) of an interrupted run", self.acq.rel, removed
            )

    def _tsv_values(self, manifest: dict[str, Any]) -> ecotaxa.AcquisitionCells:
        return tsv_cells(self.acq, self.params, settings=self.settings, manifest=manifest)

    def _open_archive(self) -> ArchiveWriter | None:
        """The zip, fed with each frame's crops as it commits (so that after the last
        frame only the TSV remains), from the committed prefix's crops on."""
        if not self.settings.ecotaxa:
            return None
        folder = self.acq.sample_folder if self.settings.sample_folder else ""
        writer = open_archive(self.store, self.layout, len(self.state.committed), folder=folder)
        self.store.on_commit = lambda frame, crops: writer.add_frame(frame.objects, crops)
        return writer

    def _write_outputs(self, manifest: dict[str, Any], writer: ArchiveWriter | None) -> str | None:
        n, cells = len(self.state.committed), self._tsv_values(manifest)
        archive = write_tsv_and_archive(
            self.store, self.layout, cells=cells, frames=n, archive=writer or False
        )
        return None if archive is None else str(archive)

    def _write_done(self) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds") + "\n"
        atomic_write(self.layout.done_file, stamp.encode(), durable=True)

    def _summary(
        self, status: str, archive: str | None = None, message: str | None = None
    ) -> AcquisitionSummary:
        failed = [f for f in self.state.committed if f.failed is not None]
        clean, spots = self.flow_cell.figures()
        return AcquisitionSummary(
            str(self.acq.path),
            status,
            len(self.source.frames),
            [{"name": f.name, "reason": f.failed or ""} for f in failed],
            self.state.objects,
            archive,
            round(time.monotonic() - self.started, 3),
            message,
            flow_cell_clean=clean,
            flow_cell_spots=spots,
            qc=self.qc.figures(),
        )
