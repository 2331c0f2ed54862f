"""Reading input files (frames, metadata.json) that anyone may have put in a folder: only
regular files, opened without blocking (opening a FIFO for reading waits for a writer,
forever), and never more than a bound read."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """A FIFO, a device or a folder where a file was expected."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.EINVAL, "not a regular file (a FIFO, device or folder)", str(path))


class FileTooLarge(OSError):
    """A file over the bound its reader allows."""

    def __init__(self, path: Path, size: int, limit: int) -> None:
        reason = f"{size:,} bytes, larger than {limit} bytes"
        super().__init__(errno.EFBIG, reason, str(path))


def open_regular(path: Path) -> tuple[int, int]:
    """(fd, size) of `path` opened for reading, only if it is a regular file (checked on
    the opened file, so a swap after a check cannot slip a FIFO in). The caller closes fd."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_fd(fd: int, count: int, offset: int = 0) -> bytes:
    """Up to `count` bytes from `offset` (fewer at the end of the file)."""
    chunks: list[bytes] = []
    while count > 0:
        chunk = os.pread(fd, min(count, 1 << 24), offset)
        if not chunk:
            break
        chunks.append(chunk)
        count, offset = count - len(chunk), offset + len(chunk)
    return b"".join(chunks)


def read_regular(path: Path, limit: int) -> bytes:
    """The whole of a regular file of at most `limit` bytes (FileTooLarge otherwise, also
    when it grows past `limit` while read)."""
    fd, size = open_regular(path)
    try:
        if size > limit:
            raise FileTooLarge(path, size, limit)
        data = read_fd(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileTooLarge(path, len(data), limit)
    return data


def read_head(path: Path, count: int) -> bytes:
    """The first `count` bytes of a regular file."""
    fd, _size = open_regular(path)
    try:
        return read_fd(fd, count)
    finally:
        os.close(fd)
