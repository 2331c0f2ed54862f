"""An acquisition's quality control from its committed frames (worker.qc's `FrameQC` per
frame, in the journal): the QC table `qc_<id>.tsv` beside the archive (one row per
committed frame) and the figures of the summaries. Pure but for the table's writing."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from streamer.files import atomic_write
from streamer.journal import CommittedFrame
from worker.qc import GRID

GRID_COLUMNS = tuple(f"focus_r{r}c{c}" for r in range(GRID) for c in range(GRID))
COLUMNS = ("frame", "name", "objects", "static_objects", "focus", "background",
           *GRID_COLUMNS, "failed")  # fmt: skip


def _cell(value: object) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def table_rows(frames: Iterable[CommittedFrame], counts: Sequence[int]) -> Iterable[list[str]]:
    """One row per frame, in COLUMNS' order, `counts` its objects (the frames may be read
    without their objects); the QC cells are empty for a frame that failed or was
    committed before the journal had them."""
    for frame, count in zip(frames, counts, strict=True):
        qc = frame.qc
        grid: list[float | None] = [None] * len(GRID_COLUMNS)
        if qc is not None:
            grid = [value for row in qc.focus_grid for value in row]
        cells: list[object] = [
            frame.index,
            frame.name,
            count if frame.failed is None else None,
            None if qc is None else qc.static,
            None if qc is None else qc.focus,
            None if qc is None else qc.background,
            *grid,
            frame.failed,
        ]
        yield [_cell(c) for c in cells]


def write_table(path: Path, frames: Iterable[CommittedFrame], counts: Sequence[int]) -> None:
    """Write the QC table (tab-separated, a header line, UTF-8), atomically; `counts`:
    the frames' numbers of objects."""
    out = io.StringIO()
    writer = csv.writer(out, dialect="excel-tab", lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(table_rows(frames, counts))
    atomic_write(path, out.getvalue().encode("utf-8"))


def figures(frames: Sequence[CommittedFrame]) -> dict[str, Any]:
    """The QC figures of the summaries: over the frames that have QC (`frames_with_qc`),
    the frame focus (median, lowest), the raw background (first, lowest, highest, last),
    static objects and empty frames (their count and the first few frame indices)."""
    with_qc = [f for f in frames if f.qc is not None and f.failed is None]
    qcs = [f.qc for f in with_qc if f.qc is not None]
    focus = [q.focus for q in qcs if q.focus is not None]
    background = [q.background for q in qcs]
    static = [f.index for f in with_qc if f.qc is not None and f.qc.static]
    empty = [f.index for f in with_qc if f.qc is not None and f.qc.objects == 0]
    return {
        "frames_with_qc": len(qcs),
        "focus_median": statistics.median_low(focus) if focus else None,
        "focus_min": min(focus) if focus else None,
        "background_first": background[0] if background else None,
        "background_min": min(background) if background else None,
        "background_max": max(background) if background else None,
        "background_last": background[-1] if background else None,
        "static_objects": sum(q.static or 0 for q in qcs),
        "static_frames": len(static),
        "static_frame_indices": static[:50],
        "empty_frames": len(empty),
        "empty_frame_indices": empty[:50],
    }
