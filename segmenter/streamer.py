"""Per-frame JSONL: each finished frame is committed durably and atomically.

Layout under `objects/<rel>/.segmenter/`: `run.json` (what the run is: settings,
frame names, process uuid and time) and `frames/<index>.jsonl`, one JSON line per
committed frame, written to a temporary name, fsynced and renamed. A frame's crops are
written (renamed into place) before its line, so a committed line always has them;
on resume, lines whose crops are missing end the committed prefix.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segmenter.errors import AcquisitionError, StorageError, storage_error
from segmenter.records import ObjectRecord

log = logging.getLogger(__name__)

STATE_DIR = ".segmenter"
LOCK_FILE = ".segmenter.lock"  # beside STATE_DIR, which a --force run removes


@dataclass(frozen=True, slots=True)
class CommittedFrame:
    index: int
    name: str
    flat_id: int
    objects: tuple[ObjectRecord, ...]
    crop_sizes: tuple[int, ...]
    failed: str | None = None

    def to_line(self) -> str:
        data = {
            "index": self.index,
            "name": self.name,
            "flat_id": self.flat_id,
            "failed": self.failed,
            "crop_sizes": list(self.crop_sizes),
            "objects": [o.to_json() for o in self.objects],
        }
        return json.dumps(data, ensure_ascii=False, allow_nan=True) + "\n"

    @classmethod
    def from_line(cls, line: str) -> CommittedFrame:
        d = json.loads(line)
        objects = tuple(ObjectRecord.from_json(o) for o in d["objects"])
        return cls(
            int(d["index"]),
            str(d["name"]),
            int(d["flat_id"]),
            objects,
            tuple(int(s) for s in d["crop_sizes"]),
            d.get("failed"),
        )


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, durable: bool = False) -> None:
    """Write under a temporary name and rename: never a half file under `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise storage_error(path, exc) from exc


@contextlib.contextmanager
def acquisition_lock(objects_dir: Path) -> Iterator[None]:
    """Hold the acquisition's advisory lock (one process at a time works on it). The
    lock file says who holds it, for the AcquisitionError a second process gets."""
    path = objects_dir / LOCK_FILE
    try:
        objects_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise storage_error(objects_dir, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise AcquisitionError(
                f"{objects_dir} is being segmented by {holder}: wait for it or stop it"
            ) from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} ({_program()}, since {started})\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (unlinking it would race)


def _program() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv else "python"


def remove_temporaries(folder: Path, prefix: str = ".") -> int:
    """Delete `<prefix>*.tmp` files a killed run left in `folder` (our temporary names
    start with a dot and end with .tmp); returns how many. Nothing else is touched."""
    removed = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in folder.iterdir():
            if path.name.startswith(prefix) and path.name.endswith(".tmp") and path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
    return removed


class FrameStore:
    """The committed frames of one acquisition and its crops folder."""

    def __init__(self, objects_dir: Path) -> None:
        self.objects_dir = objects_dir
        self.state_dir = objects_dir / STATE_DIR
        self.frames_dir = self.state_dir / "frames"

    def open(self, manifest: dict[str, Any]) -> tuple[dict[str, Any], list[CommittedFrame]]:
        """Resume a run with the same manifest, or start over. Returns (manifest, prefix)."""
        old = self._read_manifest()
        if old is not None and old.get("run") == manifest["run"]:
            return old, self._committed_prefix()
        if old is not None:
            log.info(
                "%s: settings or frames changed since the last run, starting over", self.objects_dir
            )
        self.clear()
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(self.frames_dir, exc) from exc
        atomic_write(self.state_dir / "run.json", json.dumps(manifest).encode(), durable=True)
        return manifest, []

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
        """Crops first, then the frame's line (fsynced, renamed, folder fsynced)."""
        for obj, data in zip(frame.objects, crops, strict=True):
            atomic_write(self.objects_dir / obj.img_file_name, data)
        path = self.frames_dir / f"{frame.index:06d}.jsonl"
        atomic_write(path, frame.to_line().encode("utf-8"), durable=True)
        try:
            _fsync_dir(self.frames_dir)
        except OSError as exc:
            raise storage_error(self.frames_dir, exc) from exc

    def remove_stale_crops(self, keep: Iterable[str]) -> int:
        """Delete crops in the objects folder that no committed frame names."""
        wanted = set(keep)
        removed = 0
        for path in self.objects_dir.glob("*.jpg"):
            if path.name not in wanted:
                path.unlink()
                removed += 1
        return removed

    def clear(self) -> None:
        """Forget the run: committed lines and every crop and TSV in the folder."""
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        if self.objects_dir.is_dir():
            for path in self.objects_dir.iterdir():
                if path.is_file() and (path.suffix == ".jpg" or path.name.endswith(".tsv")):
                    path.unlink()
