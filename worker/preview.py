"""The live preview of one frame: the corrected frame downscaled, its objects' boxes
drawn, as a small JPEG. Not a science output: it is never written to the archive.

The parent asks for it (`PreviewRequest` in the frame's task) for one frame every few
seconds; every other frame pays nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels

MAX_WIDTH = 1024  # px: a dashboard panel, and a 4056 px frame shown at a quarter
MAX_BYTES = 150_000  # a retained MQTT message a Pi's broker and a browser take at once
QUALITIES = (80, 65, 50, 35)  # tried in turn until the JPEG fits MAX_BYTES
BOX_COLOUR = (0, 255, 0)  # BGR: green shows on the pink-grey flow cell background


@dataclass(frozen=True, slots=True)
class PreviewRequest:
    """Make a preview of frame `index` (its task carries it)."""

    index: int
    max_width: int = MAX_WIDTH
    max_bytes: int = MAX_BYTES


def render(corrected: U8, boxes: Iterable[Box], *, request: PreviewRequest) -> bytes:
    """The JPEG of `corrected` (BGR) shrunk by a whole factor (OpenCV's fast area
    average; a 4056 px frame becomes 1014 px) to at most `max_width`, boxes drawn; the
    quality and, if need be, the width are lowered until it is at most `max_bytes`."""
    height, width = corrected.shape[:2]
    factor = max(1, -(-width // request.max_width))
    boxes = list(boxes)
    while True:
        image = _shrunk(corrected, factor)
        for x, y, w, h in boxes:
            x0, y0, x1, y1 = x // factor, y // factor, (x + w) // factor, (y + h) // factor
            cv2.rectangle(image, (x0, y0), (max(x1, x0 + 1), max(y1, y0 + 1)), BOX_COLOUR, 2)
        for quality in QUALITIES:
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(data) <= request.max_bytes:
                return bytes(data)
        if width // factor <= 64:
            raise ValueError(f"no preview of {width}x{height} fits {request.max_bytes} bytes")
        factor *= 2


def _shrunk(corrected: U8, factor: int) -> U8:
    if factor == 1:
        return corrected.copy()
    height, width = corrected.shape[:2]
    size = (width // factor, height // factor)
    return np.asarray(cv2.resize(corrected, size, interpolation=cv2.INTER_AREA), np.uint8)
