"""What one run of one or more acquisitions does around the pipeline (CLI flags, MQTT
`settings`), frozen and validated; it makes the pipeline's `worker.params.Params`.

How many worker processes run it is not a run's setting but the engine's: handed over
once, to `Segmenter(workers)` or `Segmenter.ensure_workers` (the service's queue item
keeps its own count, `QueueItem.workers`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from segmenter import rules
from streamer import contract
from worker.params import Params


def default_workers() -> int:
    """Cores minus one (the parent commits and writes), at least 1: 3 on a Pi 5."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What a run does around the pipeline (CLI flags, MQTT `settings`)."""

    force: bool = False
    recursive: bool = True
    ecotaxa: bool = True
    keep: bool = False
    process_id: str | None = None
    min_esd_um: float = rules.MIN_ESD_UM
    remove_previous_mask: bool = False
    report: bool = True  # the quick-look report beside the archive (segmenter.report)
    compat: str = contract.DEFAULT  # the output contract (streamer.contract)
    sample_folder: bool = False  # the zip's members in a folder named after sample_id (#731)
    allow_same_archive: bool = False  # another acquisition's zip of the same name replaced
    preview_s: float = 0.0  # a live preview every this many seconds at most; 0: none
    qc_focus_min: float = rules.QC_FOCUS_MIN  # the QC warnings' levels (segmenter.qc)
    qc_drift: int = rules.QC_DRIFT
    qc_static: int = rules.QC_STATIC
    qc_frames: int = rules.QC_FRAMES

    def __post_init__(self) -> None:
        """The rules of segmenter.rules (a settings file is checked as a command is)."""
        rules.compat(self.compat, "compat")
        rules.min_esd_um(self.min_esd_um, "min_esd_um")
        rules.preview_s(self.preview_s, "preview_s")
        if self.process_id is not None:
            rules.process_id(self.process_id, "process_id")
        rules.qc_focus_min(self.qc_focus_min, "qc_focus_min")
        rules.qc_drift(self.qc_drift, "qc_drift")
        rules.qc_static(self.qc_static, "qc_static")
        rules.qc_frames(self.qc_frames, "qc_frames")

    def params(self, pixel_size_um: float | None) -> Params:
        return Params(
            min_esd_um=self.min_esd_um,
            pixel_size_um=pixel_size_um,
            remove_previous_mask=self.remove_previous_mask,
        )
