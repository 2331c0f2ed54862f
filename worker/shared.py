"""A worker's view of arrays in shared memory: what crosses the process boundary is a
name, a shape and a dtype; workers attach by name, read, detach, and never unlink (the
parent that creates a block unlinks it, see segmenter.engine.shared_memory)."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class SharedArray:
    """What crosses the process boundary: a name, a shape and a dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str


class Attachments:
    """A worker's view of shared arrays, attached once by name and kept until replaced."""

    def __init__(self, keep: int = 3) -> None:
        self._keep = keep
        self._open: dict[str, tuple[shared_memory.SharedMemory, npt.NDArray[np.generic]]] = {}

    def get(self, ref: SharedArray) -> npt.NDArray[np.generic]:
        if ref.name not in self._open:
            # Workers share the parent's resource tracker (forkserver passes it on), so
            # the registration this makes is the parent's own: the parent's unlink clears
            # it, and if the parent is SIGKILLed the tracker unlinks the segment.
            shm = shared_memory.SharedMemory(name=ref.name)
            self._open[ref.name] = (shm, np.ndarray(ref.shape, np.dtype(ref.dtype), shm.buf))
            while len(self._open) > self._keep:
                self._drop(next(iter(self._open)))
        return self._open[ref.name][1]

    def release(self, name: str) -> None:
        """Detach now: a big array (the flat stack) is not held once its task is done."""
        if name in self._open:
            self._drop(name)

    def retain(self, names: set[str]) -> None:
        """Detach everything but `names` (the flats the current task still reads)."""
        for name in [n for n in self._open if n not in names]:
            self._drop(name)

    def _drop(self, name: str) -> None:
        shm, array = self._open.pop(name)
        del array
        with suppress(BufferError):
            shm.close()

    def close(self) -> None:
        for name in list(self._open):
            self._drop(name)
