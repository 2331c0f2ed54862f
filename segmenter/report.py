"""The quick-look report of an acquisition (streamer.report): at the end of each run
(`after_run`, unless `RunSettings.report` is off) and from `segmenter report`."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from segmenter.acquisition import Acquisition
from segmenter.errors import AcquisitionError, SegmenterError
from segmenter.qc import QCLevels, QCWatch
from segmenter.settings import RunSettings
from segmenter.summary import AcquisitionSummary
from streamer import contract
from streamer.journal import FrameStore
from streamer.owned import Outputs
from streamer.report import Report, read_summary, write_report

log = logging.getLogger(__name__)
#: The summary's flow-cell figures (engine.flowcell): from the run's flats, not the journal.
FLOW_CELL = ("flow_cell_clean", "flow_cell_spots")


def report(
    acq: Acquisition,
    seconds: float | None = None,
    *,
    mosaic_order: str = "largest",
    qc: dict[str, Any] | None = None,
    flow_cell: dict[str, Any] | None = None,
) -> Report:
    """Write the report from the committed frames. `seconds` (the segmentation's): when
    not given, the previous summary's figure is kept (None if there is none);
    `mosaic_order`: largest or by-size (streamer.report.mosaic.select); `qc`: the run's
    QC figures and warnings (segmenter.qc), else found again from the journal with the
    default levels; `flow_cell`: the run's flow-cell figures (engine.flowcell, from its
    flats), each one not given kept from the previous summary."""
    store = FrameStore(acq.layout.objects_dir)
    manifest = store.manifest()
    if manifest is None or next(store.read_frames(), None) is None:
        raise AcquisitionError(f"{acq.path} has no committed frames: run segmenter segment")
    # the run's file names; sizes come from the journal, in pixels whatever the
    # contract, and are converted once with process_pixel (never twice)
    layout = acq.layout_for(contract.of_manifest(manifest))
    Outputs(layout).claim(layout.report_files())  # another's file is refused
    previous = read_summary(layout)
    if seconds is None:
        value = previous.get("seconds")
        seconds = float(value) if isinstance(value, int | float) else None
    given = flow_cell or {}
    flow_cell = {k: previous.get(k) if given.get(k) is None else given[k] for k in FLOW_CELL}
    if qc is None:
        watch = QCWatch(QCLevels())
        for frame in store.read_frames():
            watch.add(frame)
        qc = watch.figures()
    return write_report(
        store,
        layout,
        metadata=acq.metadata,
        pixel_um=acq.pixel_size_um,
        total_frames=len(acq.frames),
        seconds=seconds,
        mosaic_order=mosaic_order,
        qc=qc,
        flow_cell=flow_cell,
    )


def after_run(
    acq: Acquisition, settings: RunSettings, summary: AcquisitionSummary
) -> AcquisitionSummary:
    """Once an acquisition is archived (engine.segmenter hands it to the run as its
    `after_archive`): the report, unless turned off.
    A report that cannot be written is logged; the archive stands."""
    if not settings.report:
        return summary
    try:
        flow_cell = {name: getattr(summary, name) for name in FLOW_CELL}
        written = report(acq, summary.seconds, qc=summary.qc, flow_cell=flow_cell)
    except (SegmenterError, OSError, ValueError) as exc:
        log.warning("%s: report not written: %s", acq.path, exc)
        return summary
    log.info("%s: report %s", acq.rel, written.summary)
    return replace(summary, report=str(written.summary))
