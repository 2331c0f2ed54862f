"""Arrays in multiprocessing shared memory: created and unlinked by the parent only.

Segment names carry the creator's pid (`segmenter_<pid>_<n>`) so that a later run can
remove what a SIGKILLed one left in /dev/shm. Workers attach read-only by name and
detach (worker.shared); they never unlink.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
import numpy.typing as npt

from worker.shared import SharedArray

log = logging.getLogger(__name__)

PREFIX = "segmenter_"


SHM_DIR = Path("/dev/shm")


_counter = itertools.count()
_unremovable: set[str] = set()  # stale names another user owns, already logged


class SharedBlock:
    """A shared array owned by this process; `close()` unlinks it (idempotent)."""

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        size = max(1, int(np.prod(shape)) * np.dtype(dtype).itemsize)
        self._shm: shared_memory.SharedMemory | None = _create(size)
        name = self._shm.name
        self.ref = SharedArray(name, tuple(shape), dtype)
        self.array: npt.NDArray[np.generic] = np.ndarray(shape, np.dtype(dtype), self._shm.buf)

    def close(self) -> None:
        shm, self._shm = self._shm, None
        if shm is None:
            return
        del self.array
        shm.close()
        with suppress(FileNotFoundError):
            shm.unlink()


def _create(size: int) -> shared_memory.SharedMemory:
    """A new segment under the next free name of this pid: a stale one under the same
    name (an earlier process with this pid, which the sweep could not remove) is
    skipped, never reused."""
    for _ in range(1000):
        name = f"{PREFIX}{os.getpid()}_{next(_counter)}"
        try:
            return shared_memory.SharedMemory(name=name, create=True, size=size)
        except FileExistsError:
            continue
    raise FileExistsError(f"{SHM_DIR}/{PREFIX}{os.getpid()}_*: 1000 stale names in a row")


@contextmanager
def shared_block(shape: tuple[int, ...], dtype: str) -> Iterator[SharedBlock]:
    block = SharedBlock(shape, dtype)
    try:
        yield block
    finally:
        block.close()


def ours() -> list[str]:
    """Names of segments in /dev/shm created by any segmenter process."""
    if not SHM_DIR.is_dir():
        return []
    return sorted(p.name for p in SHM_DIR.iterdir() if p.name.startswith(PREFIX))


def mine() -> list[str]:
    """Names of segments created by this process (other segmenters may run beside it)."""
    prefix = f"{PREFIX}{os.getpid()}_"
    return [n for n in ours() if n.startswith(prefix)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


SEMAPHORE_PREFIX = "sem.mp-"  # multiprocessing's named semaphores (the pool's queues)


def _mapped_inodes() -> set[int]:
    """Inodes of /dev/shm files mapped by a process of this user (by inode: glibc maps a
    semaphore under a temporary name before linking it to its own). One whose maps cannot
    be read (a sandbox's init) is skipped: unlinking a name does not take the semaphore
    from a process that has it open, only from one that would open it later."""
    uid, device, mapped = os.getuid(), SHM_DIR.stat().st_dev, set()
    shm_dev = f"{os.major(device):02x}:{os.minor(device):02x}"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != uid:
                continue
            maps = (proc / "maps").read_text()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        for line in maps.splitlines():
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[3] == shm_dev:
                mapped.add(int(fields[4]))
    return mapped


def orphan_semaphores() -> list[str]:
    """This user's multiprocessing semaphores that no live process has open: what a
    SIGKILL of a whole segmenter (resource tracker included) leaves for good. A named
    semaphore in use is mapped by every process that has it open."""
    if not SHM_DIR.is_dir():
        return []
    candidates: dict[str, int] = {}
    for path in SHM_DIR.iterdir():
        if path.name.startswith(SEMAPHORE_PREFIX):
            with suppress(OSError):
                st = path.stat()
                if st.st_uid == os.getuid():
                    candidates[path.name] = st.st_ino
    if not candidates:
        return []
    mapped = _mapped_inodes()
    return sorted(name for name, inode in candidates.items() if inode not in mapped)


def _unlink(name: str) -> bool:
    """Remove /dev/shm/`name`; one that another user owns (a killed `sudo segmenter`
    left it) stays, logged once per process: it costs its memory, not a start."""
    path = SHM_DIR / name
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        if name not in _unremovable:
            _unremovable.add(name)
            log.warning(
                "cannot remove %s left by a killed run (%s): remove it as its owner "
                "(sudo rm %s) to free its memory",
                path,
                exc.strerror,
                path,
            )
        return False
    return True


def sweep_stale() -> list[str]:
    """Unlink segments whose creating process is gone and semaphores nobody has open
    (both left by a SIGKILL)."""
    for name in orphan_semaphores():
        _unlink(name)
    removed = []
    for name in ours():
        try:
            pid = int(name[len(PREFIX) :].split("_", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid) and _unlink(name):
            removed.append(name)
    if removed:
        log.info("removed %d shared memory segment(s) left by a killed run", len(removed))
    return removed
