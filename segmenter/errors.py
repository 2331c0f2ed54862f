"""The one error hierarchy, as the controller sees it: the root and the kernel's errors
(worker.errors), storage's (streamer.errors), and the controller's own. Every message
says what went wrong and what to do."""

from __future__ import annotations

from streamer.errors import AcquisitionBusy, EcoTaxaError, StorageError, storage_error
from worker.errors import ConfigError, FrameError, SegmenterError

__all__ = [
    "AcquisitionBusy",
    "AcquisitionError",
    "ConfigError",
    "EcoTaxaError",
    "FrameError",
    "Interrupted",
    "NotFound",
    "SegmenterError",
    "StorageError",
    "UsageError",
    "storage_error",
]


class AcquisitionError(SegmenterError):
    """An acquisition folder cannot be used (no metadata.json, no frames, bad metadata)."""


class UsageError(SegmenterError):
    """The command line is missing something it needs (exit status 2, as argparse's)."""


class NotFound(UsageError):
    """A path given on the command line does not exist (a usage error: exit status 2)."""


class Interrupted(SegmenterError):
    """The run was stopped on request; committed frames are kept for a resume."""
