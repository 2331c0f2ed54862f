"""`segmenter ls`: every acquisition below a data root's img/ and its state, read from
done.txt, the journal and the failure record; nothing is written."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from segmenter.acquisition import (
    Acquisition,
    committed_counts,
    find_acquisitions,
    list_frames,
    load_acquisition,
)
from segmenter.engine.run import tsv_cells
from segmenter.errors import SegmenterError
from segmenter.settings import RunSettings
from streamer import ecotaxa
from streamer.journal import FrameStore

NEW, PARTIAL, DONE, FAILED = "new", "partial", "done", "failed"


@dataclass(frozen=True, slots=True)
class Listed:
    path: str  # below img/
    state: str  # new, partial, done, failed
    frames: int
    committed: int  # frames in the journal (failed ones included)
    objects: int
    archive: str | None
    reason: str | None = None  # why it failed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _metadata_problem(acq: Acquisition) -> str | None:
    """What a run would refuse in metadata.json before any work (the TSV's cells)."""
    stamp = {"process_uuid": "-", "process_datetime": "-"}
    settings = RunSettings()
    try:
        ecotaxa.build_columns(tsv_cells(acq, settings.params(acq.pixel_size_um), settings, stamp))
    except SegmenterError as exc:
        return str(exc)
    return None


def describe(folder: Path, data_root: Path) -> Listed:
    img = data_root.resolve() / "img"
    rel = str(folder.resolve().relative_to(img)) if folder.resolve().is_relative_to(img) else ""
    try:
        acq = load_acquisition(folder, data_root)
    except SegmenterError as exc:  # it would fail the same way when segmented
        try:
            frames = len(list_frames(folder))
        except SegmenterError:
            frames = 0
        return Listed(rel or str(folder), FAILED, frames, 0, 0, None, str(exc))
    layout = acq.layout
    store = FrameStore(layout.objects_dir)
    problem = _metadata_problem(acq)
    names = [p.name for p in acq.frames]
    done = layout.done_file.exists()
    committed, objects = committed_counts(acq)
    reason = None if done else store.failure() or problem
    if done:
        state = DONE
    elif reason is not None:
        state = FAILED
    else:
        state = PARTIAL if committed else NEW
    archive = str(layout.archive) if layout.archive.is_file() else None
    return Listed(str(acq.rel), state, len(names), committed, objects, archive, reason)


def list_acquisitions(path: Path, data_root: Path) -> list[Listed]:
    """Every acquisition at or below `path` (a data root: below its img/)."""
    return [describe(folder, data_root) for folder in find_acquisitions(path)]


def line(item: Listed) -> str:
    """One line of `segmenter ls`."""
    frames = f"{item.committed}/{item.frames} frames"
    text = f"{item.state:<8} {frames:>15} {item.objects:>7} objects  {item.path}"
    if item.archive:
        text += f"  -> {item.archive}"
    if item.reason:
        text += f"  ({item.reason})"
    return text
