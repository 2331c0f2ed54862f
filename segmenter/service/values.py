"""The values of a command's fields: each one checked, or a ConfigError naming the field."""

from __future__ import annotations

import math
from typing import Any

from segmenter.errors import ConfigError

MAX_WORKERS = 64
MAX_MIN_ESD = 100_000.0


def bool_value(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f"{field}: must be true or false, got {type(value).__name__}")


def number_value(value: Any, field: str) -> float | None:
    """A number or a numeric string; an empty string means the default (None)."""
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
    if not math.isfinite(number) or not 0 <= number <= MAX_MIN_ESD:
        raise ConfigError(f"{field}: must be a number between 0 and {MAX_MIN_ESD:g}")
    return number


def workers_value(value: Any, field: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{field}: must be a whole number")
    if not 1 <= value <= MAX_WORKERS:
        raise ConfigError(f"{field}: must be between 1 and {MAX_WORKERS}")
    return value


def process_id_value(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{field}: must be a string or a whole number")
    text = str(value).strip()
    if len(text) > 64 or any(c in text for c in "\t\r\n/\\\0"):
        raise ConfigError(f"{field}: at most 64 characters, no tabs, newlines or slashes")
    return text
