"""One rule per setting a user gives: the CLI's flags (cli/args.py), the MQTT commands
and update_config (service/commands.py, service/values.py), the environment of the
service, and `RunSettings` (so the queue's settings file too) check a value here, so
that each limit, default and message is written once.

Each rule returns the value to use or raises ConfigError: "`field`: reason", or the
reason alone when no field is given (argparse names the flag itself). Parsing the
text or JSON a value comes in is the caller's; the rule is what the value may be."""

from __future__ import annotations

import math

from segmenter.errors import ConfigError
from streamer import contract
from worker.params import Params

WORKERS_MAX = 256  # processes a run may ask for; the service lowers to the machine's
MIN_ESD_UM = Params().min_esd_um  # the default: the kernel's
MIN_ESD_MAX_UM = 100_000.0
PREVIEW_S = 5.0  # the service's live preview: at most one every 5 s (docs/live.md)
PREVIEW_MAX_S = 3600.0
PROCESS_ID_MAX = 64
PROCESS_ID_REFUSED = "\t\r\n/\\\0"  # it becomes part of a TSV cell and of file names


def _error(field: str | None, reason: str) -> ConfigError:
    return ConfigError(f"{field}: {reason}" if field else reason)


def workers(value: int, field: str | None = None) -> int:
    """Worker processes: a whole number from 1 to WORKERS_MAX."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= WORKERS_MAX:
        raise _error(field, f"must be a whole number from 1 to {WORKERS_MAX}, got {value!r}")
    return value


def min_esd_um(value: float, field: str | None = None) -> float:
    """The smallest equivalent spherical diameter kept: a number from 0 to MIN_ESD_MAX_UM
    (micrometres; pixels when the acquisition has no pixel size)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MIN_ESD_MAX_UM
    ):
        raise _error(field, f"must be a number between 0 and {MIN_ESD_MAX_UM:g}")
    return float(value)


def process_id(value: str, field: str | None = None) -> str:
    """The id written into process_id: trimmed, at most PROCESS_ID_MAX characters, none of
    PROCESS_ID_REFUSED."""
    text = value.strip()
    if len(text) > PROCESS_ID_MAX or any(c in text for c in PROCESS_ID_REFUSED):
        reason = f"at most {PROCESS_ID_MAX} characters, no tabs, newlines or slashes"
        raise _error(field, reason)
    return text


def compat(value: object, field: str | None = None) -> str:
    """The output contract's name (streamer.contract)."""
    try:
        return contract.checked(value)
    except ConfigError as exc:
        raise _error(field, str(exc)) from exc


def preview_s(value: float, field: str | None = None) -> float:
    """Seconds between two live previews at least: 0 (no preview) or a number from 1 to
    PREVIEW_MAX_S (more often than once a second would only load the broker)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (value == 0 or 1 <= value <= PREVIEW_MAX_S)
    ):
        raise _error(field, f"must be 0 (none) or a number of seconds from 1 to {PREVIEW_MAX_S:g}")
    return float(value)


# -- quality-control warnings (segmenter.qc; how the defaults were chosen: docs/qc.md) --
QC_FOCUS_MIN = 0.07  # frame focus score (worker.qc) below which a frame is blurred
QC_DRIFT = 20  # grey levels the raw background may move from the acquisition's start
QC_STATIC = 3  # static objects (worker.qc) from which a frame counts as dirty
QC_FRAMES = 5  # frames in a row a condition must hold before it is a warning
QC_FRAMES_MAX = 10_000


def qc_focus_min(value: float, field: str | None = None) -> float:
    """The focus level of the low-focus warning: a number from 0 to 10 (0: never)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 10
    ):
        raise _error(field, "must be a number between 0 and 10")
    return float(value)


def _whole_in(value: int, low: int, *, high: int, field: str | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _error(field, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def qc_drift(value: int, field: str | None = None) -> int:
    """Grey levels of background drift before a warning: a whole number from 1 to 255."""
    return _whole_in(value, 1, high=255, field=field)


def qc_static(value: int, field: str | None = None) -> int:
    """Static objects that make a frame dirty: a whole number from 1 to 100,000."""
    return _whole_in(value, 1, high=100_000, field=field)


def qc_frames(value: int, field: str | None = None) -> int:
    """Frames in a row before a warning: a whole number from 1 to QC_FRAMES_MAX."""
    return _whole_in(value, 1, high=QC_FRAMES_MAX, field=field)
