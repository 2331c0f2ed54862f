"""The one atomic writer: a temporary name beside the target, fsync, rename. Never a half
file under a final name; every OSError becomes a StorageError naming the path."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

from streamer.errors import storage_error

# `replacing`'s temporary names: .<final name>.<pid>.<8 hex digits>.tmp
_TEMPORARY = re.compile(r"\..+\.[0-9]+\.[0-9a-f]{8}\.tmp")


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder: so that a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _token() -> str:
    """What makes a temporary name this process's own, and fresh."""
    return f"{os.getpid()}.{secrets.token_hex(4)}"


def _temporary_name(name: str, token: str) -> str:
    """The temporary name of `name`, one `remove_temporaries` recognises."""
    return f".{name}.{token}.tmp"


def temporary_path(path: Path) -> Path:
    """A fresh temporary name beside `path`."""
    return path.with_name(_temporary_name(path.name, _token()))


def install(tmp: Path, path: Path, durable: bool = True) -> None:
    """Rename the written temporary file `tmp` to `path` (with `durable`: fsync it first
    and the folder after). OSError is the caller's to turn into a StorageError."""
    if durable:
        fsync_path(tmp)
    os.replace(tmp, path)
    if durable:
        fsync_path(path.parent)


@contextlib.contextmanager
def replacing(path: Path, durable: bool = True, make_folder: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary path beside `path`; once the body has written it, rename
    it to `path` (with `durable`: fsync it first and its folder after; with `make_folder`:
    make the folder first if missing). On any error the temporary file is removed and
    `path` is left as it was."""
    tmp = temporary_path(path)
    try:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        install(tmp, path, durable)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise storage_error(path, exc) from exc
        raise


def atomic_write(path: Path, data: bytes, durable: bool = False) -> None:
    """Write `data` to `path` through `replacing`."""
    with replacing(path, durable) as tmp:
        tmp.write_bytes(data)


def write_files(folder: Path, files: Iterable[tuple[str, bytes]]) -> None:
    """Write each (name, data) into `folder` as `atomic_write` does without `durable` (a
    temporary name, then renamed over the name), through one open folder and one
    temporary token for them all: no path walked or token drawn per file (a frame's
    crops: ~30% less CPU than `atomic_write` each). Stops at the first OSError, as a
    StorageError naming that file, its temporary removed."""
    token = _token()
    try:
        folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise storage_error(folder, exc) from exc
    try:
        for name, data in files:
            tmp = _temporary_name(name, token)
            try:
                _write_at(folder_fd, tmp, data)
                os.replace(tmp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=folder_fd)
                raise storage_error(folder / name, exc) from exc
    finally:
        os.close(folder_fd)


def _write_at(folder_fd: int, name: str, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    fd = os.open(name, flags, 0o666, dir_fd=folder_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def remove_temporaries(folder: Path, prefix: str = ".") -> int:
    """Delete the temporary files `replacing` gave a killed run in `folder` (names
    starting with `prefix`); returns how many. Nothing else is touched, not even
    another program's `.something.tmp`."""
    removed = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in folder.iterdir():
            name = path.name
            if name.startswith(prefix) and _TEMPORARY.fullmatch(name) and path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
    return removed
