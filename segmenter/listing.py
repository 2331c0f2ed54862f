"""`segmenter ls`: every acquisition below a data root's img/ and its state, read from
done.txt, the journal and the failure record; nothing is written."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from segmenter.acquisition import (
    Acquisition,
    announced_frames,
    committed_counts,
    find_acquisitions,
    list_frames,
    load_acquisition,
)
from segmenter.errors import SegmenterError
from segmenter.service.follower import STATE_FILE as LIVE_STATE_FILE
from segmenter.settings import RunSettings
from segmenter.tsv_cells import tsv_cells
from segmenter.upload.book import upload_states
from streamer import ecotaxa
from streamer.journal import FrameStore
from streamer.layout import LOCK_FILE

NEW, PARTIAL, DONE, FAILED = "new", "partial", "done", "failed"
RUNNING, LIVE = "running", "live"  # a run holds its lock; the service follows it live


@dataclass(frozen=True, slots=True)
class Listed:
    path: str  # below img/
    state: str  # new, partial, running, live, done, failed
    frames: int  # on disk; until done, acq_nb_frame when metadata announces more
    committed: int  # frames in the journal (failed ones included)
    objects: int
    archive: str | None
    reason: str | None = None  # why it failed; who is segmenting it when running
    upload: str | None = None  # its EcoTaxa upload state (segmenter.upload.book), if any

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.upload is None:  # only acquisitions that were sent say so
            del data["upload"]
        return data


def _metadata_problem(acq: Acquisition) -> str | None:
    """What a run would refuse in metadata.json before any work (the TSV's cells)."""
    stamp = {"process_uuid": "-", "process_datetime": "-"}
    settings = RunSettings()
    try:
        ecotaxa.build_columns(
            tsv_cells(acq, settings.params(acq.pixel_size_um), settings=settings, manifest=stamp)
        )
    except SegmenterError as exc:
        return str(exc)
    return None


def followed_live(data_root: Path) -> set[Path]:
    """The folders the service follows live (its live.json), resolved."""
    try:
        data = json.loads((data_root / LIVE_STATE_FILE).read_text(encoding="utf-8"))
        return {Path(f).resolve() for f in data["following"] if isinstance(f, str)}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def describe(folder: Path, data_root: Path, live: frozenset[Path] = frozenset()) -> Listed:
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
    committed, objects = committed_counts(acq)
    reason = None if done else store.failure() or problem
    holder = None if done else lock_holder(layout.objects_dir)
    if done:
        state = DONE
    elif folder.resolve() in live:
        state, reason = LIVE, holder
    elif holder is not None:
        state, reason = RUNNING, holder
    elif reason is not None:
        state = FAILED
    else:
        state = PARTIAL if committed else NEW
    frames = len(names) if done else max(len(names), announced_frames(acq.metadata) or 0)
    archive = str(layout.archive) if layout.archive.is_file() else None
    return Listed(str(acq.rel), state, frames, committed, objects, archive, reason)


def lock_holder(objects_dir: Path) -> str | None:
    """Who holds the acquisition's lock (a run segmenting it, batch or live), found in
    /proc/locks without taking the lock: a probe that took it, even shared, could make a
    run starting at that instant fail as busy. None when free (or not on Linux)."""
    path = objects_dir / LOCK_FILE
    try:
        st = path.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    if not any("FLOCK" in line and key in line.split() for line in table.splitlines()):
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
    except OSError:
        return "another process"


def list_acquisitions(path: Path, data_root: Path) -> list[Listed]:
    """Every acquisition at or below `path` (a data root: below its img/)."""
    uploads = upload_states(data_root)
    live = frozenset(followed_live(data_root))
    items = [describe(folder, data_root, live) for folder in find_acquisitions(path)]
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
