"""The values of a command's fields: each one parsed from its JSON and checked by its
rule (segmenter.rules), or a ConfigError naming the field."""

from __future__ import annotations

import os
from typing import Any

from segmenter import rules
from segmenter.errors import ConfigError

#: MB one worker process takes (PSS, measured on 4056x3040 frames: issue 21)
WORKER_MB = 120


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _memory_mb() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError, AttributeError):
        return 1024  # unknown: as small as a Pi


def max_workers(cores: int | None = None, memory_mb: int | None = None) -> int:
    """The most workers a command may ask for on this machine: one per core (more only
    adds memory and switching), and at WORKER_MB each no more than half the memory (the
    other half: the controller's flat stack, 333 MB on HQ frames, the OS, the broker and
    the dashboard). A Pi 5 (4 cores, 4-8 GB): 4; a 512 MB board: 2."""
    cores = _cores() if cores is None else cores
    memory_mb = _memory_mb() if memory_mb is None else memory_mb
    return max(1, min(cores, memory_mb // 2 // WORKER_MB, rules.WORKERS_MAX))


def bool_value(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f"{field}: must be true or false, got {type(value).__name__}")


def min_esd_value(value: Any, field: str) -> float | None:
    """A number or a numeric string (rules.min_esd_um); an empty string means the
    default (None)."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            number = float(value)
        except ValueError as exc:
            raise ConfigError(f"{field}: {value[:40]!r} is not a number") from exc
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ConfigError(f"{field}: must be a number, got {type(value).__name__}")
    return rules.min_esd_um(number, field)


def workers_value(value: Any, field: str) -> tuple[int, str | None]:
    """(the count to use, a note when it was lowered to `max_workers()`). Lowered, not
    refused: the dashboard sends its own count with every `segment`, and a refusal
    would fail its item on a smaller machine; the note goes into the reply."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{field}: must be a whole number")
    limit = max_workers()
    if value <= limit:
        return rules.workers(value, field), None
    note = f"{field}: {value} lowered to {limit}, the most this machine runs"
    return limit, f"{note} ({_cores()} cores, {_memory_mb()} MB, ~{WORKER_MB} MB a worker)"


def process_id_value(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{field}: must be a string or a whole number")
    return rules.process_id(str(value), field)


#: The QC warnings' levels a command's `settings` may give (segmenter.qc), by rule.
QC_RULES = {
    "qc_focus_min": rules.qc_focus_min,
    "qc_drift": rules.qc_drift,
    "qc_static": rules.qc_static,
    "qc_frames": rules.qc_frames,
}


def qc_values(settings: dict[str, Any], field: str) -> dict[str, Any]:
    """The QC levels `settings` gives (JSON numbers; whole numbers where the rule asks),
    each checked by its rule."""
    out: dict[str, Any] = {}
    for key, rule in QC_RULES.items():
        value = settings.get(key)
        if value is not None:
            out[key] = rule(value, f"{field}.{key}")
    return out
