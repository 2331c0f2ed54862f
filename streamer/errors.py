"""Storage errors; each message names the path and what to do."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from worker.errors import SegmenterError


class StorageError(SegmenterError):
    """Writing results failed (read-only or full disk, vanished folder)."""


class EcoTaxaError(SegmenterError):
    """A value would make EcoTaxa reject the archive."""


class AcquisitionBusy(SegmenterError):
    """Another process is working on this acquisition."""


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


class ForeignFile(StorageError):
    """A file this program did not write is where one of its outputs goes."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} exists and segmenter did not write it: move it away, then run again"
        )
