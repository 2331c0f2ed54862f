"""Per-frame JSONL: each finished frame is committed durably and atomically.

Under `objects/<rel>/.segmenter/`: `run.json` (what the run is: settings,
frame names, process uuid and time) and `frames/<index>.jsonl`, one JSON line per
committed frame, written to a temporary name, fsynced and renamed. A frame's crops are
written (renamed into place) before its line, so a committed line always has them;
on resume, lines whose crops are missing end the committed prefix.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamer.errors import ForeignFile, StorageError, storage_error
from streamer.files import atomic_write, write_files
from worker.qc import FrameQC
from worker.records import ObjectRecord

log = logging.getLogger(__name__)

JOURNAL_VERSION = 2  # 2: labels from 0, `flat_from`; a journal of another version starts over

STATE_DIR = ".segmenter"
FAILED = "failed.json"  # why the last run failed the acquisition; removed when a run opens
_CROP = re.compile(r"(.+)_[0-9]+\.jpg")  # <frame stem>_<n>.jpg


@dataclass(frozen=True, slots=True)
class CommittedFrame:
    index: int
    name: str
    flat_from: int
    objects: tuple[ObjectRecord, ...]
    crop_sizes: tuple[int, ...]
    failed: str | None = None
    qc: FrameQC | None = None  # the frame's QC (worker.qc); None in older journals

    def to_line(self) -> str:
        data: dict[str, Any] = {
            "index": self.index,
            "name": self.name,
            "flat_from": self.flat_from,
            "failed": self.failed,
            "crop_sizes": list(self.crop_sizes),
            "objects": [o.to_json() for o in self.objects],
        }
        if self.qc is not None:
            data["qc"] = self.qc.to_json()
        return json.dumps(data, ensure_ascii=False, allow_nan=True) + "\n"

    @classmethod
    def from_line(cls, line: str) -> CommittedFrame:
        d = json.loads(line)
        objects = tuple(ObjectRecord.from_json(o) for o in d["objects"])
        return cls(
            int(d["index"]),
            str(d["name"]),
            int(d["flat_from"]),
            objects,
            tuple(int(s) for s in d["crop_sizes"]),
            d.get("failed"),
            None if d.get("qc") is None else FrameQC.from_json(d["qc"]),
        )


class FrameStore:
    """The committed frames of one acquisition and its crops folder."""

    def __init__(self, objects_dir: Path) -> None:
        self.objects_dir = objects_dir
        self.state_dir = objects_dir / STATE_DIR
        self.frames_dir = self.state_dir / "frames"
        #: called with each frame and its crops once committed (the zip as frames commit)
        self.on_commit: Callable[[CommittedFrame, Sequence[bytes]], None] | None = None

    def open(self, manifest: dict[str, Any]) -> tuple[dict[str, Any], list[CommittedFrame]]:
        """Resume a run with the same manifest, or start over. Returns (manifest, prefix)."""
        manifest = {"version": JOURNAL_VERSION, **manifest}
        (self.state_dir / FAILED).unlink(missing_ok=True)  # this run decides anew
        old = self._read_manifest()
        if (
            old is not None
            and old.get("version") == JOURNAL_VERSION
            and old.get("run") == manifest["run"]
        ):
            return old, self._committed_prefix()
        if old is not None:
            log.info(
                "%s: settings or frames changed since the last run, starting over", self.objects_dir
            )
        self.clear()
        self._refuse_foreign_crops(manifest["run"].get("frames") or [])
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(self.frames_dir, exc) from exc
        atomic_write(self.state_dir / "run.json", json.dumps(manifest).encode(), durable=True)
        return manifest, []

    def set_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest of the open run (what it records beside its frames, e.g.
        the output contract, which a resumed run may change)."""
        atomic_write(self.state_dir / "run.json", json.dumps(manifest).encode(), durable=True)

    def manifest(self) -> dict[str, Any] | None:
        """The run's manifest as committed, or None (no journal, or unreadable)."""
        return self._read_manifest()

    def frames_of(self, names: Sequence[str]) -> Iterator[CommittedFrame]:
        """The committed lines of a run over the frames `names` (the folder's now): none
        when the run was over other frames; for a live run (frames checked as they came),
        the lines up to the first whose frame is not the folder's at its index."""
        run = (self.manifest() or {}).get("run", {})
        if run.get("frames") != list(names) and not run.get("live"):
            return
        for frame in self.read_frames():
            if frame.index >= len(names) or frame.name != names[frame.index]:
                return
            yield frame

    def read_frames(self) -> Iterator[CommittedFrame]:
        """The committed lines from frame 0 up to the first gap, failed frames included;
        read-only (what resume keeps is `open`'s business)."""
        index = 0
        while True:
            try:
                text = (self.frames_dir / f"{index:06d}.jsonl").read_text(encoding="utf-8")
                frame = CommittedFrame.from_line(text)
            except (OSError, ValueError, KeyError, TypeError):
                return
            if frame.index != index:
                return
            yield frame
            index += 1

    def record_failure(self, reason: str) -> None:
        """Say durably why the acquisition failed (for `segmenter ls`); the next run's
        `open` removes it. Only beside a journal: a run that failed before opening one
        (bad metadata) writes nothing, and `segmenter ls` finds that reason itself."""
        if not self.state_dir.is_dir():
            return
        try:
            data = json.dumps({"reason": reason}, ensure_ascii=False).encode("utf-8")
            atomic_write(self.state_dir / FAILED, data, durable=True)
        except (OSError, StorageError) as exc:  # the failure itself may be the disk's
            log.warning("%s: cannot record the failure: %s", self.state_dir, exc)

    def failure(self) -> str | None:
        """The reason the last run failed, if it did."""
        try:
            data = json.loads((self.state_dir / FAILED).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return str(data.get("reason", "")) if isinstance(data, dict) else None

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.state_dir / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _committed_prefix(self) -> list[CommittedFrame]:
        frames: list[CommittedFrame] = []
        while True:
            path = self.frames_dir / f"{len(frames):06d}.jsonl"
            try:
                frame = CommittedFrame.from_line(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, KeyError, TypeError):
                break
            if frame.index != len(frames) or frame.failed or not self._crops_present(frame):
                break  # a failed frame is tried again: what follows it depends on it
            frames.append(frame)
        for stale in self.frames_dir.glob("*.jsonl"):
            if stale.stem.isdigit() and int(stale.stem) >= len(frames):
                stale.unlink()
        return frames

    def frame(self, index: int) -> CommittedFrame | None:
        """The committed line of frame `index`, or None (none, or unreadable)."""
        try:
            text = (self.frames_dir / f"{index:06d}.jsonl").read_text(encoding="utf-8")
            return CommittedFrame.from_line(text)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def objects(self, count: int) -> Iterator[ObjectRecord]:
        """The objects of the first `count` committed frames, in frame order, read back
        from their lines one frame at a time (the run keeps only counts in memory)."""
        for index in range(count):
            path = self.frames_dir / f"{index:06d}.jsonl"
            try:
                frame = CommittedFrame.from_line(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise StorageError(f"cannot read committed frame {path}: {exc.strerror}") from exc
            yield from frame.objects

    def _crops_present(self, frame: CommittedFrame) -> bool:
        for obj, size in zip(frame.objects, frame.crop_sizes, strict=True):
            try:
                if (self.objects_dir / obj.img_file_name).stat().st_size != size:
                    return False
            except OSError:
                return False
        return True

    def commit(self, frame: CommittedFrame, crops: Sequence[bytes]) -> None:
        """Crops first, then the frame's line (fsynced, renamed, folder fsynced), then
        `on_commit`."""
        names = (obj.img_file_name for obj in frame.objects)
        write_files(self.objects_dir, zip(names, crops, strict=True))
        path = self.frames_dir / f"{frame.index:06d}.jsonl"
        atomic_write(path, frame.to_line().encode("utf-8"), durable=True)  # folder fsynced
        if self.on_commit is not None:
            self.on_commit(frame, crops)

    def _refuse_foreign_crops(self, frames: Sequence[str]) -> None:
        """A new journal: a file already under a crop name of these frames is another's
        (ForeignFile). Once the journal exists, such names are ours (`our_crops`)."""
        stems = {Path(name).stem for name in frames}
        try:
            names = [e.name for e in os.scandir(self.objects_dir)] if stems else []
        except FileNotFoundError:
            return
        for name in sorted(names):
            match = _CROP.fullmatch(name)
            if match and match[1] in stems:
                raise ForeignFile(self.objects_dir / name)

    def our_crops(self) -> set[str]:
        """The crops this journal's runs wrote: those its lines name and, beside its
        run.json, any `<frame stem>_<n>.jpg` of its frames (a run killed between a
        frame's crops and its line left them unnamed)."""
        names: set[str] = set()
        stems: set[str] = set()
        manifest = self._read_manifest()
        if manifest is not None:
            stems |= {Path(str(n)).stem for n in manifest.get("run", {}).get("frames") or []}
        for path in self.frames_dir.glob("*.jsonl"):
            try:
                frame = CommittedFrame.from_line(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            names |= {o.img_file_name for o in frame.objects}
            stems.add(Path(frame.name).stem)
        if manifest is not None and self.objects_dir.is_dir():
            for entry in os.scandir(self.objects_dir):
                match = _CROP.fullmatch(entry.name)
                if match and match[1] in stems:
                    names.add(entry.name)
        return names

    def remove_stale_crops(self, keep: Iterable[str]) -> int:
        """Delete our crops that no committed frame names (`keep`: those named by every
        committed frame, so that no line needs reading again): the `<frame stem>_<n>.jpg`
        of the run's frames or of a kept crop's frame. Nothing else."""
        wanted = set(keep)
        manifest = self._read_manifest() or {}
        frames = manifest.get("run", {}).get("frames") or []
        stems = {Path(str(n)).stem for n in frames}
        stems |= {m[1] for m in map(_CROP.fullmatch, wanted) if m}
        removed = 0
        for path in self.objects_dir.glob("*.jpg"):
            match = _CROP.fullmatch(path.name)
            if match and match[1] in stems and path.name not in wanted:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def clear(self) -> None:
        """Forget the run: its journal files and its crops (`our_crops`). Files this
        program did not write stay, in the crops folder and in the journal's."""
        try:
            for name in self.our_crops():
                (self.objects_dir / name).unlink(missing_ok=True)
            for path in self.frames_dir.glob("*.jsonl"):
                if path.stem.isdigit():
                    path.unlink()
            for name in ("run.json", FAILED):
                (self.state_dir / name).unlink(missing_ok=True)
        except OSError as exc:
            raise storage_error(Path(exc.filename or self.objects_dir), exc) from exc
