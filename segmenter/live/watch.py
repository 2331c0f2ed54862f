"""Which frames of a folder the imager has finished writing, in acquisition order.

A frame (segmenter.acquisition.is_frame) is complete once integrity.check lists it (the
imager appends the line after writing and fsyncing the file) or, for a writer that keeps
no integrity.check, once it ends with the JPEG end marker and its size has not changed for
`settle` seconds.

Order. The batch run takes frames in name order, and the live run must take them in the
same order for the archives to be equal (object labels and the flat-field rules follow
the frame order). The imager names each frame by its UTC capture time and appends its line
after the previous frame's, so integrity.check order is name order, and listed frames are
returned at once, in that order. Frames found by the settle rule are returned in name order,
and never before an earlier-named frame that is on disk but still incomplete: a later frame
can settle first (it is smaller, or the earlier one is still being written). Within one poll
both kinds are merged by name. The one case left is a frame that arrives after a
later-named frame was already returned (the Pi's clock stepped back during the acquisition,
or another writer): it is still returned, logged, and kept in `out_of_order`, so that the
caller can tell the live order differed from the batch's.

A frame that never completes (the camera died mid-write) holds back the later unlisted
ones; `drain()` hands over everything left when the acquisition is over.
"""

from __future__ import annotations

import heapq
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from segmenter.acquisition import announced_frames, is_frame, list_frames, read_metadata
from segmenter.errors import AcquisitionError
from segmenter.live.imager import INTEGRITY_FILE, IntegrityEntry, parse_integrity_line
from worker.inputs import open_regular, read_fd

log = logging.getLogger(__name__)

JPEG_END = b"\xff\xd9"
Clock = Callable[[], float]


class IntegrityReader:
    """Reads integrity.check incrementally: from where the last read stopped, complete
    lines only (a partly written last line waits for the next read)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._inode: int | None = None

    def read(self) -> list[IntegrityEntry]:
        try:
            fd, size = open_regular(self.path)  # a FIFO is not waited on
        except OSError:
            return []  # not there (yet), or not a file: the settle rule finds the frames
        try:
            inode = os.fstat(fd).st_ino
            if inode != self._inode or size < self.offset:  # replaced, truncated
                self._inode, self.offset = inode, 0
            chunk = read_fd(fd, size - self.offset, self.offset)
        except OSError:
            return []
        finally:
            os.close(fd)
        end = chunk.rfind(b"\n") + 1  # 0: no complete line yet
        self.offset += end
        entries = (parse_integrity_line(line) for line in chunk[:end].splitlines())
        return [e for e in entries if e is not None]


def _ends_with_marker(path: Path, size: int) -> bool:
    if size < len(JPEG_END):
        return False
    try:
        fd, _size = open_regular(path)
    except OSError:
        return False
    try:
        return read_fd(fd, len(JPEG_END), size - len(JPEG_END)) == JPEG_END
    except OSError:
        return False
    finally:
        os.close(fd)


class FolderWatcher:
    """`poll()` returns the frames completed since the previous call, each once."""

    def __init__(self, folder: Path, settle: float = 1.0, clock: Clock = time.monotonic) -> None:
        self.folder = folder
        self.settle = settle
        self.clock = clock
        self.out_of_order: list[Path] = []  # returned after a later-named frame
        self._integrity = IntegrityReader(folder / INTEGRITY_FILE)
        self._returned: set[str] = set()
        self._last: str | None = None  # the greatest name returned so far
        self._sizes: dict[str, tuple[int, float]] = {}  # unlisted frame: size, since when
        self._expected: int | None = None

    def poll(self) -> list[Path]:
        listed = self._listed()
        settled = self._settled(set(listed))
        ready = list(heapq.merge(listed, settled)) if settled else listed
        for name in ready:
            self._take(name)
        return [self.folder / name for name in ready]

    def pending(self) -> list[Path]:
        """Frames on disk not returned yet (incomplete, or held back), in name order."""
        return [p for p in list_frames(self.folder) if p.name not in self._returned]

    def drain(self) -> list[Path]:
        """Every frame on disk not returned yet, complete or not, in name order; for the end
        of the acquisition, when no more writes will come."""
        left = self.pending()
        for path in left:
            self._take(path.name)
        return left

    def expected(self) -> int | None:
        """metadata.json's acq_nb_frame when it is a positive whole number."""
        if self._expected is None:
            try:
                self._expected = announced_frames(read_metadata(self.folder))
            except AcquisitionError:
                return None
        return self._expected

    def _listed(self) -> list[str]:
        names: list[str] = []
        for entry in self._integrity.read():
            name = entry.name
            if "/" in name or not is_frame(Path(name)) or name in self._returned:
                continue
            if name not in names:
                names.append(name)
        return names

    def _settled(self, listed: set[str]) -> list[str]:
        """Unlisted frames that ended with the JPEG marker and kept their size for
        `settle` seconds, in name order, up to the first incomplete one."""
        now = self.clock()
        ready: list[str] = []
        blocked = False
        present: set[str] = set()
        for path in list_frames(self.folder):
            name = path.name
            if name in self._returned or name in listed:
                continue
            present.add(name)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            seen = self._sizes.get(name)
            if seen is None or seen[0] != size:
                self._sizes[name] = seen = (size, now)
            complete = now - seen[1] >= self.settle and _ends_with_marker(path, size)
            if not complete:
                blocked = True
            elif not blocked:
                ready.append(name)
        for name in set(self._sizes) - present:
            del self._sizes[name]  # returned, or gone
        return ready

    def _take(self, name: str) -> None:
        self._returned.add(name)
        self._sizes.pop(name, None)
        if self._last is not None and name < self._last:
            log.warning(
                "%s: %s is complete after %s, which sorts after it: the live order differs "
                "from the batch's name order",
                self.folder,
                name,
                self._last,
            )
            self.out_of_order.append(self.folder / name)
        else:
            self._last = name
