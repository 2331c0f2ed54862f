"""Reading frames: checked before decoding, one FrameError per problem."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from worker.errors import FrameError
from worker.inputs import NotRegularFile, open_regular, read_fd

MAX_PIXELS = 64_000_000  # 8000 x 8000: larger is refused before it is decoded
HEADER_BYTES = 65536  # where a frame's JPEG header (after its EXIF) is found
HEADER_SLACK = 1 << 20  # EXIF, thumbnails and tables beside the image data
MAX_FRAME_BYTES = 3 * MAX_PIXELS + HEADER_SLACK  # no sane JPEG of MAX_PIXELS is larger
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SOF marker, without decoding; None if not found."""
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def check_jpeg(name: str, data: bytes) -> None:
    """Refuse what is not a complete JPEG of a sane size, before decoding it."""
    if len(data) == 0:
        raise FrameError(name, "the file is empty")
    if data[:2] != b"\xff\xd8":
        raise FrameError(name, "not a JPEG file")
    if not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        raise FrameError(name, "truncated JPEG (no end marker): the file is incomplete")
    size = jpeg_size(data)
    if size is None:
        raise FrameError(name, "corrupt JPEG header")
    if size[0] * size[1] > MAX_PIXELS:
        raise FrameError(name, f"{size[0]}x{size[1]} is too large to decode safely")


def printable_name(path: Path) -> str:
    """The file name as text; bytes that are not UTF-8 shown as `\\xff` escapes."""
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


def _size_limit(name: str, head: bytes) -> int:
    """The most bytes a frame with this header can sanely have: 3 bytes a pixel (more
    than a JPEG at quality 100 takes) plus HEADER_SLACK. A header claiming more than
    MAX_PIXELS is refused here, before the file is read."""
    if head[:2] != b"\xff\xd8":
        raise FrameError(name, "not a JPEG file")
    size = jpeg_size(head)
    if size is None:  # its frame header lies past HEADER_BYTES: the whole file tells
        return MAX_FRAME_BYTES
    if size[0] * size[1] > MAX_PIXELS:
        raise FrameError(name, f"{size[0]}x{size[1]} is too large to decode safely")
    return 3 * size[0] * size[1] + HEADER_SLACK


def read_jpeg_bytes(path: Path) -> bytes:
    """The bytes of a frame file, checked before they are read whole: a regular file
    (a FIFO would block), not empty, a JPEG header of a sane size, and no more bytes than
    that header's image can have. Memory is bounded by the frame's own size."""
    try:
        fd, size = open_regular(path)
    except NotRegularFile as exc:
        raise FrameError(path.name, str(exc.strerror)) from exc
    except OSError as exc:
        raise FrameError(path.name, f"cannot read: {exc.strerror}") from exc
    try:
        if size == 0:
            raise FrameError(path.name, "the file is empty")
        if size > MAX_FRAME_BYTES:
            raise FrameError(path.name, f"{size / 1e6:.0f} MB is larger than any frame")
        head = read_fd(fd, HEADER_BYTES)
        limit = _size_limit(path.name, head)
        if size > limit:
            raise FrameError(
                path.name, f"{size / 1e6:.0f} MB is more than its JPEG header's image can hold"
            )
        data = head + read_fd(fd, limit + 1 - len(head), len(head))
    except OSError as exc:
        raise FrameError(path.name, f"cannot read: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while read
        raise FrameError(path.name, "the file grew while it was read")
    return data


def read_frame(path: Path, into: npt.NDArray[np.uint8] | None = None) -> npt.NDArray[np.uint8]:
    """Decode a frame as BGR uint8; straight into `into` when it has the frame's shape
    and this OpenCV can decode into a given array (no 37 MB temporary, no copy).

    A name that is not valid UTF-8 is refused before OpenCV sees it (its imread
    segfaults on one), and its object ids could not be written as text anyway."""
    if printable_name(path) != path.name:
        raise FrameError(printable_name(path), "its file name is not valid UTF-8; rename it")
    data = read_jpeg_bytes(path)
    check_jpeg(path.name, data)
    size = jpeg_size(data)
    if into is not None and size is not None and into.shape == (size[1], size[0], 3):
        try:
            out = cv2.imread(str(path), into, cv2.IMREAD_COLOR)
        except (TypeError, cv2.error):
            out = None  # no imread(path, dst, flags) here: decode as usual
        if out is not None and np.shares_memory(out, into):
            return into
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError(path.name, "the JPEG data cannot be decoded")
    return np.asarray(image, dtype=np.uint8)
