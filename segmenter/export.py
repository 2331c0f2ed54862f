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
from segmenter.errors import AcquisitionError, ConfigError
from segmenter.report import report
from segmenter.settings import RunSettings
from segmenter.tsv_cells import tsv_cells
from streamer import contract
from streamer.journal import FrameStore
from streamer.layout import Layout, acquisition_lock
from streamer.outputs import remove_leftovers, write_tsv_and_archive
from streamer.owned import Outputs
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


def _compat(acq: Acquisition, manifest: dict[str, Any], asked: str | None) -> str:
    """The output contract of the re-export: the run's own unless `asked`; 2026-06 needs
    a journal made with its raw values."""
    compat = contract.checked(asked) if asked is not None else contract.of_manifest(manifest)
    if compat == contract.NEW and manifest.get("run", {}).get("records") != contract.NEW:
        raise AcquisitionError(
            f"{acq.path} was segmented before the {contract.NEW} output contract existed: "
            f"export it with --compat {contract.OLD}, or run segmenter segment --force"
        )
    return compat


def _rename_report(before: Layout, after: Layout) -> None:
    """The report's files under the names of the contract now chosen (their content does
    not depend on it: sizes come from the journal)."""
    ours = Outputs(before)
    for old, new in zip(before.report_files(), after.report_files(), strict=True):
        if old.exists() and ours.owns(old):
            Outputs(after).claim([new])  # another's file under the new name is refused
            old.replace(new)


def export(
    folder: Path,
    data_root: Path,
    *,
    process_id: str | None,
    with_report: bool,
    compat: str | None = None,
    sample_folder: bool = False,
    allow_same_archive: bool = False,
) -> Exported:
    """Rebuild one acquisition's TSV and zip (and its report) from its journal, in the
    output contract of its run unless `compat` names another (then recorded as the run's);
    `sample_folder`: the zip's members in a folder named after sample_id (#731)."""
    started = time.monotonic()
    acq = load_acquisition(folder, data_root)
    store = FrameStore(acq.layout.objects_dir)
    with acquisition_lock(acq.layout.objects_dir):
        manifest, frames, objects = _checked_journal(acq, store)
        params = _params(acq, manifest)
        chosen = _compat(acq, manifest, compat)
        before = acq.layout_for(contract.of_manifest(manifest))
        layout = acq.layout_for(chosen)
        removed = remove_leftovers(before, store)  # a killed export's or run's
        if layout.archive != before.archive:
            removed += remove_leftovers(layout, store)
        if removed:
            log.info("%s: removed %d temporary file(s) of an interrupted run", acq.rel, removed)
        archives.check_name(layout, allow_same_archive)
        pid = process_id or manifest.get("process_id")
        settings = RunSettings(process_id=pid, compat=chosen)
        cells = tsv_cells(acq, params, settings=settings, manifest=manifest)
        Outputs(layout).claim([layout.tsv, layout.archive], shared=allow_same_archive)
        if before.file_id != layout.file_id:  # the other contract's names: replaced
            _rename_report(before, layout)
            Outputs(before).remove(before.archive)
        top = acq.sample_folder if sample_folder else ""
        archive = write_tsv_and_archive(store, layout, cells=cells, frames=frames, folder=top)
        if manifest.get("compat", contract.LEGACY) != chosen:
            store.set_manifest({**manifest, "compat": chosen})
        assert archive is not None
        if with_report:
            report(acq)
    return Exported(str(acq.rel), str(archive), objects, round(time.monotonic() - started, 3))
