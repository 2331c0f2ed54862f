"""`segmenter export`: the TSV and zip of a segmented acquisition rebuilt from its
journal after metadata.json changed, without segmenting again. The process columns are
the run's own (its parameters, uuid, time and process id, from the journal's run.json),
so the archive is the one a new segmentation with the same settings would give."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmenter import archives
from segmenter.acquisition import Acquisition, load_acquisition
from segmenter.engine.run import tsv_cells
from segmenter.errors import AcquisitionError, ConfigError
from segmenter.report import report
from segmenter.settings import RunSettings
from streamer.journal import FrameStore
from streamer.layout import acquisition_lock
from streamer.outputs import write_tsv_and_archive
from worker.params import Params

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Exported:
    path: str
    archive: str
    objects: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "archive": self.archive, "objects": self.objects,
                "seconds": self.seconds}  # fmt: skip


def _checked_journal(acq: Acquisition, store: FrameStore) -> tuple[dict[str, Any], int, int]:
    """(manifest, frames, objects) when every frame of the folder is in the journal and
    the run archived it; else an AcquisitionError saying what to run."""
    manifest = store.manifest()
    if manifest is None:
        raise AcquisitionError(f"{acq.path} was never segmented: run segmenter segment")
    names = [p.name for p in acq.frames]
    run = manifest.get("run", {})
    if not run.get("live") and run.get("frames") != names:  # a live run's are checked below
        raise AcquisitionError(
            f"{acq.path}: its frames changed since it was segmented: run segmenter segment --force"
        )
    committed = objects = 0
    for frame in store.frames_of(names):
        committed, objects = committed + 1, objects + len(frame.objects)
    if committed < len(names):
        raise AcquisitionError(
            f"{acq.path}: {len(names) - committed} of {len(names)} frames are missing from the "
            f"journal (first: {names[committed]}): run segmenter segment to finish it"
        )
    if not acq.layout.done_file.exists():
        raise AcquisitionError(
            f"{acq.path}: its last run did not archive it (failed or stopped): "
            "run segmenter segment"
        )
    return manifest, committed, objects


def _params(acq: Acquisition, manifest: dict[str, Any]) -> Params:
    try:
        params = Params(**manifest["run"]["params"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise AcquisitionError(f"{acq.path}: unreadable run parameters in the journal") from exc
    if params.pixel_size_um != acq.pixel_size_um:
        raise AcquisitionError(
            f"{acq.path}: process_pixel changed ({params.pixel_size_um} -> {acq.pixel_size_um}) "
            "since it was segmented, which changes the objects kept: "
            "run segmenter segment --force"
        )
    return params


def export(
    folder: Path,
    data_root: Path,
    process_id: str | None,
    with_report: bool,
    *,
    allow_same_archive: bool = False,
) -> Exported:
    """Rebuild one acquisition's TSV and zip (and its report) from its journal."""
    started = time.monotonic()
    acq = load_acquisition(folder, data_root)
    layout = acq.layout
    store = FrameStore(layout.objects_dir)
    archives.check_name(layout, allow_same_archive)
    with acquisition_lock(layout.objects_dir):
        manifest, frames, objects = _checked_journal(acq, store)
        params = _params(acq, manifest)
        settings = RunSettings(process_id=process_id or manifest.get("process_id"))
        cells = tsv_cells(acq, params, settings, manifest)
        archives.remove_stale(layout)  # acq_id may have changed
        archive = write_tsv_and_archive(store, layout, cells, frames)
        assert archive is not None
        if with_report:
            report(acq)
    return Exported(str(acq.rel), str(archive), objects, round(time.monotonic() - started, 3))
