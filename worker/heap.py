"""The process heap handed back to the system between kinds of work.

Segmenting a frame allocates frame-sized arrays (the gray frame, masks: 12 MB each at
4056x3040) that glibc keeps in its heap once freed, ~45 MB a worker: memory nobody uses
while the worker decodes the next flat field's frames, the run's peak (docs/performance.md).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

_malloc_trim: Callable[[int], int] | None = getattr(ctypes.CDLL(None), "malloc_trim", None)


def trim() -> bool:
    """Return the heap's free pages to the system (glibc's `malloc_trim(0)`); False where
    the C library has no such call (then nothing happens)."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
