"""One exception hierarchy. Every message says what went wrong and what to do."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


class SegmenterError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SegmenterError):
    """A setting or command field is invalid."""


class AcquisitionError(SegmenterError):
    """An acquisition folder cannot be used (no metadata.json, no frames, bad metadata)."""


class FrameError(SegmenterError):
    """One frame cannot be segmented (unreadable, truncated, wrong size)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"frame {name}: {reason}")
        self.name = name
        self.reason = reason

    def __reduce__(self) -> tuple[type[FrameError], tuple[str, str]]:
        # raised in worker processes: must unpickle in the parent (the default would
        # call FrameError(message) and break the pool)
        return (FrameError, (self.name, self.reason))


class StorageError(SegmenterError):
    """Writing results failed (read-only or full disk, vanished folder)."""


class EcoTaxaError(SegmenterError):
    """A value would make EcoTaxa reject the archive."""


class Interrupted(SegmenterError):
    """The run was stopped on request; committed frames are kept for a resume."""


def storage_error(path: Path, exc: OSError) -> StorageError:
    """The StorageError for an OSError while writing `path`: a full disk says how much
    space is left, a read-only or forbidden one points at the data root."""
    if exc.errno == errno.ENOSPC:
        try:
            free = f"{shutil.disk_usage(path.parent).free / 1e6:.1f} MB free"
        except OSError:
            free = "free space unknown"
        return StorageError(f"disk full writing {path} ({free}): free space and run again")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StorageError(f"cannot write {path}: {exc.strerror} (check the data root)")
    return StorageError(f"cannot write {path}: {exc.strerror or exc}")
