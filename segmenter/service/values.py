"""The values of a command's fields: each one parsed from its JSON and checked by its
rule (segmenter.rules), or a ConfigError naming the field.

Paths must exist and lie inside `<data root>/img`: `..`, symlinks leading out and
absolute paths elsewhere are refused, so the service only ever touches its data root."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from segmenter import rules
from segmenter.errors import ConfigError

MAX_PATHS = 100
_ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}", re.ASCII)
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


def parse_id(value: Any, field: str = "id") -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{field}: must be a string or a whole number")
    text = str(value)
    if not _ID_RE.fullmatch(text):
        raise ConfigError(f"{field}: 1 to 64 characters among letters, digits and _ . : -")
    return text


def item_ids(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{field}: must be a non-empty list of item ids")
    ids = tuple(parse_id(v, f"{field}[{i}]") or "" for i, v in enumerate(value))
    if "" in ids:
        raise ConfigError(f"{field}: null is not an item id")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{field}: an item id appears twice")
    return ids


def resolve_path(text: str, data_root: Path, field: str = "path") -> Path:
    """An existing folder inside `<data_root>/img`, resolved; ConfigError otherwise."""
    if not text or "\0" in text:
        raise ConfigError(f"{field}: must be a non-empty path")
    raw = Path(text)
    if ".." in raw.parts:
        raise ConfigError(f"{field}: {text} contains '..', which is refused")
    img_root = (data_root / "img").resolve()
    candidate = raw if raw.is_absolute() else data_root / raw
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"{field}: {text} does not exist") from exc
    if resolved != img_root and not resolved.is_relative_to(img_root):
        raise ConfigError(f"{field}: {text} is outside the data root's img folder {img_root}")
    if not resolved.is_dir():
        raise ConfigError(f"{field}: {text} is not a folder")
    return resolved


def parse_paths(value: Any, data_root: Path | None) -> tuple[Path, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError("path: must be a path or a non-empty list of paths")
    if len(value) > MAX_PATHS:
        raise ConfigError(f"path: at most {MAX_PATHS} paths per command")
    if not all(isinstance(v, str) for v in value):
        raise ConfigError("path: every path must be a string")
    if data_root is None:
        return tuple(Path(v) for v in value)
    return tuple(resolve_path(v, data_root, "path") for v in value)
