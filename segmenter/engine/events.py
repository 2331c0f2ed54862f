"""Progress events: the engine reports, adapters (terminal bar, MQTT) decide how often to
show them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmenter.qc import QCWarning
from worker.qc import FrameQC
from worker.records import ObjectRecord


@dataclass(frozen=True, slots=True)
class LiveState:
    """Where a live acquisition stands (segmenting while the imager acquires)."""

    seen: int  # complete frames found so far
    announced: int | None  # frames the imager (or metadata's acq_nb_frame) says will come
    state: str  # waiting (for frames), keeping up, lagging, finishing
    lag: int  # frames found but not yet segmented
    ended: str | None = None  # why no more frames will come, once that is known


@dataclass(frozen=True, slots=True)
class FramePreview:
    """A committed frame's live preview (engine.preview): the JPEG, downscaled with its
    objects' boxes drawn, and what the dashboard shows beside it."""

    jpeg: bytes
    index: int
    frame: str
    width: int  # the frame's size, px (the boxes are in its pixels)
    height: int
    boxes: tuple[tuple[int, int, int, int], ...]  # x, y, width, height
    objects: int
    qc: dict[str, Any] = field(default_factory=dict)  # the frame record's QC figures


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress event; adapters (terminal bar, MQTT) decide how often to show it."""

    phase: str  # "start", "flat", "frame", "live" (frames found), "archive", "end"
    acquisition: Path
    done: int
    total: int
    objects: int
    failed: int
    frame: str | None = None
    elapsed: float = 0.0
    committed: tuple[ObjectRecord, ...] = ()  # phase "frame": the objects of that frame
    live: LiveState | None = None  # a live acquisition's state
    compat: str = "2026-03"  # the run's output contract, for the `metric` payload
    pixel_um: float | None = None  # micrometres per pixel (the 2026-06 conversion)
    preview: FramePreview | None = None  # phase "frame": its live preview, now and then
    qc: FrameQC | None = None  # phase "frame": that frame's QC (worker.qc)
    warnings: tuple[QCWarning, ...] = ()  # the acquisition's QC warnings so far (segmenter.qc)


ProgressCallback = Callable[[Progress], None]
