"""`segmenter ls`: every acquisition below a data root's img/ and its state, read from
done.txt, the journal and the failure record; nothing is written."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from segmenter.acquisition import Acquisition, find_acquisitions, list_frames, load_acquisition
from segmenter.engine.run import tsv_cells
from segmenter.errors import SegmenterError
from segmenter.settings import RunSettings
from segmenter.upload.book import upload_states
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
    upload: str | None = None  # its EcoTaxa upload state (segmenter.upload.book), if any

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.upload is None:  # only acquisitions that were sent say so
            del data["upload"]
        return data


def _objects_from_summary(path: Path) -> int | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("objects")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


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
    store = FrameStore(acq.layout.objects_dir)
    layout = acq.run_layout()  # the names of the contract its run was made with
    problem = _metadata_problem(acq)
    names = [p.name for p in acq.frames]
    done = layout.done_file.exists()
    known = _objects_from_summary(layout.report_file("summary", ".json")) if done else None
    if known is not None:  # done, and its report counted them: no need to read the journal
        committed, objects = len(names), known
    else:
        committed = objects = 0
        for frame in store.frames_of(names):
            committed += 1
            objects += len(frame.objects)
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
    uploads = upload_states(data_root)
    items = [describe(folder, data_root) for folder in find_acquisitions(path)]
    return [replace(i, upload=uploads[i.path]) if i.path in uploads else i for i in items]


def line(item: Listed) -> str:
    """One line of `segmenter ls`."""
    frames = f"{item.committed}/{item.frames} frames"
    text = f"{item.state:<8} {frames:>15} {item.objects:>7} objects  {item.path}"
    if item.archive:
        text += f"  -> {item.archive}"
    if item.reason:
        text += f"  ({item.reason})"
    if item.upload:
        text += f"  [EcoTaxa: {item.upload}]"
    return text
