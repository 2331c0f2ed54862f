"""`AcquisitionSummary`: what one acquisition's run came to, as the engine returns it and
the report, the CLI, the service and the uploads read it. Imports nothing of ours."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    report: str | None = None  # summary_<acq_id>.json, when the report was written
    flow_cell_clean: float | None = None  # % of the view dark in no flat (engine.flowcell)
    flow_cell_spots: int | None = None  # dark spots in every flat: debris, bubbles
    qc: dict[str, Any] | None = None  # QC figures and warnings (segmenter.qc, streamer.qc)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
