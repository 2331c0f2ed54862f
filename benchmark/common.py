"""Small helpers shared by the benchmark parts: statistics, ratios, signal hygiene."""

from __future__ import annotations

import math
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

Json = dict[str, Any]


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence (mean of the two middle values when even)."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of nothing")
    return float(sum(values)) / len(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def ratio(num: float, den: float) -> float:
    """num / den, NaN when the denominator is not positive."""
    return num / den if den > 0 else math.nan


def rounded(value: float, digits: int = 6) -> float:
    return round(value, digits) if math.isfinite(value) else value


@contextmanager
def keep_sigint() -> Iterator[None]:
    """Restore this process's SIGINT handler after code that changes it.

    Creating an inline (1-worker) pool runs the worker initializer in the calling
    process, which sets SIGINT to SIG_IGN; the benchmark must stay interruptible.
    """
    handler = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
