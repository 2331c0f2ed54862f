"""Play an existing acquisition into a new folder the way the PlanktoScope imager writes
one (segmenter/live/imager.py), so that live segmentation is tested and benchmarked
without a camera: `segmenter replay`.

The new folder gets metadata.json and integrity.check (header and metadata.json's line),
then `Started` is published; frame k (from 0) is written at start + k/rate against the
clock, not after a sleep per frame, so the rate holds on average however long a write
takes: in place and not atomically (a reader can see it half written, as with the
camera), fsynced, then its integrity.check line, then the text status and the progress
event. The end is `Done`, or after `stop_after` frames `Interrupted`, the imager's
"WAS NOT CAPTURED" status, or nothing at all (`silent`: an imager that crashed); those
three come when the next frame was due. Without a publisher only the files are written.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from segmenter.acquisition import METADATA, list_frames, read_metadata
from segmenter.errors import AcquisitionError, ConfigError
from segmenter.live import imager
from segmenter.live.imager import TOPIC as IMAGER_TOPIC

End = Literal["done", "interrupted", "not-captured", "silent"]
ENDS: tuple[End, ...] = get_args(End)
Publish = Callable[[str, bytes], None]  # topic, payload
Wait = Callable[[float], bool]  # sleep up to `seconds`; True when asked to stop
CHUNK = 256 * 1024  # bytes per write(): a frame appears on disk in pieces


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What to play, checked: `plan()` builds it."""

    source: Path
    target: Path  # the new acquisition folder, absolute
    frames: tuple[Path, ...]
    metadata: bytes  # metadata.json as it is written
    rate: float  # frames per second
    stop_after: int | None = None
    end: End = "done"

    @property
    def total(self) -> int:
        return len(self.frames)


@dataclass(frozen=True, slots=True)
class FrameWritten:
    current: int  # from 1, as the imager counts
    total: int
    path: Path
    late_s: float  # how long after its due time the frame was complete


@dataclass(frozen=True, slots=True)
class ReplayResult:
    target: Path
    written: int
    total: int
    end: str  # an End, or "stopped" (Ctrl-C: Interrupted was published)
    rate: float
    seconds: float
    max_late_s: float

    def as_dict(self) -> dict[str, object]:
        return {
            "target": str(self.target),
            "frames": self.written,
            "total": self.total,
            "end": self.end,
            "rate": self.rate,
            "seconds": round(self.seconds, 3),
            "max_late_s": round(self.max_late_s, 3),
        }


def imager_rel(source: Path, metadata: dict[str, object]) -> Path:
    """SRC's path below its img/ folder; else the imager's object_date/sample_id/acq_id."""
    for parent in source.parents:
        if parent.name == "img":
            return source.relative_to(parent)
    parts = []
    for key in ("object_date", "sample_id", "acq_id"):
        if metadata.get(key) in (None, ""):
            raise ConfigError(f"{source} is not below an img/ folder and its metadata has no "
                              f"{key}: pass --as REL to say where the replay goes")  # fmt: skip
        parts.append(str(metadata[key]).replace(" ", "_").strip("'"))
    return Path(*parts)


def _check_rel(rel: Path) -> Path:
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ConfigError(f"--as {rel}: give a relative path below DATA_ROOT/img, without '..'")
    return rel


def plan(
    source: Path,
    data_root: Path,
    *,
    rate: float = 1.0,
    rel: Path | None = None,
    frames: int | None = None,
    stop_after: int | None = None,
    end: End | None = None,
) -> ReplayPlan:
    """Check everything before anything is written; every problem is one line."""
    source = source.resolve()
    raw = read_metadata(source)  # AcquisitionError when SRC is no acquisition
    available = list_frames(source)
    if not available:
        raise AcquisitionError(f"{source} holds no .jpg frames to replay")
    if frames is not None and frames > len(available):
        raise ConfigError(f"--frames {frames}: {source} has only {len(available)} frames")
    chosen = available[:frames] if frames is not None else available
    if data_root.exists() and not data_root.is_dir():  # a new one is created
        raise ConfigError(f"data root {data_root} is not a folder")
    target = data_root.resolve() / "img" / _check_rel(rel or imager_rel(source, raw))
    if target.exists():
        raise ConfigError(f"{target} already exists (the imager refuses too): pass --as REL")
    if not rate > 0 or rate == float("inf"):
        raise ConfigError("--rate must be a positive number of frames per second")
    if stop_after is not None:
        end = end or "interrupted"
        if end == "done":
            raise ConfigError("--stop-after: end with interrupted, not-captured or silent")
        if stop_after >= len(chosen):
            raise ConfigError(f"--stop-after {stop_after}: the replay has {len(chosen)} frames")
    elif end not in (None, "done"):
        raise ConfigError(f"--end {end} needs --stop-after K (after how many frames)")
    metadata = (source / METADATA).read_bytes()
    if frames is not None and raw.get("acq_nb_frame") != len(chosen):
        text = json.dumps(raw | {"acq_nb_frame": len(chosen)}, indent=4)  # as the imager
        metadata = text.encode()
    return ReplayPlan(source, target, chosen, metadata, rate, stop_after, end or "done")


def _write_frame(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        for start in range(0, len(data), CHUNK):
            f.write(data[start : start + CHUNK])
            f.flush()
        os.fsync(f.fileno())


def _append_integrity(folder: Path, name: str, data: bytes) -> None:
    with open(folder / imager.INTEGRITY_FILE, "a", encoding="utf-8") as f:
        f.write(imager.integrity_line(name, data))


def _start_folder(plan: ReplayPlan) -> None:
    plan.target.mkdir(parents=True)
    (plan.target / METADATA).write_bytes(plan.metadata)
    with open(plan.target / imager.INTEGRITY_FILE, "x", encoding="utf-8") as f:
        f.write("".join(imager.INTEGRITY_HEADER))
    _append_integrity(plan.target, METADATA, plan.metadata)


def run(
    plan: ReplayPlan,
    publish: Publish | None = None,
    *,
    on_frame: Callable[[FrameWritten], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    wait: Wait | None = None,
) -> ReplayResult:
    """Play `plan`; Ctrl-C (or `wait` returning True) ends it like the imager's stop."""

    def send(payload: bytes) -> None:
        if publish is not None:
            publish(IMAGER_TOPIC, payload)

    wait = wait or threading.Event().wait  # a real sleep that Ctrl-C interrupts
    _start_folder(plan)
    send(imager.started())
    count = plan.total if plan.stop_after is None else plan.stop_after
    start = clock()
    written, max_late, end = 0, 0.0, str(plan.end)

    def until(due: float) -> bool:
        """Wait for `due`; True when asked to stop."""
        while (left := due - clock()) > 0:
            if wait(left):
                return True
        return False

    try:
        for k in range(count):
            source = plan.frames[k]
            data = source.read_bytes()
            due = start + k / plan.rate
            if until(due):
                raise KeyboardInterrupt
            path = plan.target / source.name
            _write_frame(path, data)
            _append_integrity(plan.target, source.name, data)
            send(imager.saved(k + 1, plan.total, source.name))
            send(imager.progress(str(path), k + 1, plan.total))
            written, late = k + 1, clock() - due
            max_late = max(max_late, late)
            if on_frame is not None:
                on_frame(FrameWritten(k + 1, plan.total, path, late))
        due_next = start + count / plan.rate  # when the imager would have said more
        if plan.end in ("interrupted", "not-captured") and until(due_next):
            raise KeyboardInterrupt
        if plan.end == "done":
            send(imager.done(str(plan.target)))
        elif plan.end == "interrupted":
            send(imager.interrupted())
        elif plan.end == "not-captured":
            send(imager.not_captured(count + 1, plan.total))
    except KeyboardInterrupt:
        send(imager.interrupted())  # the user pressed stop
        end = "stopped"
    seconds = clock() - start
    return ReplayResult(plan.target, written, plan.total, end, plan.rate, seconds, max_late)
