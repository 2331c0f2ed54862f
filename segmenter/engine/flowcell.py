"""What the flat field shows of the flow cell: the debris and bubbles that stay dark in
every frame (the flat is the median of its frames, so a dark spot in it is dark in most of
them), as a map (`clean/<rel>/stuck_map.jpg`, upstream's name) and a figure in the
summary; and the flat itself as an image when asked (--keep).

"Dark" is measured against the flat's own local background, so that vignetting does not
count: on the flat shrunk to MAP_WIDTH, the background is the flat closed by a disc of
BACKGROUND_PX (which removes any dark spot narrower than it) and smoothed; a pixel is dark
below DARK_RATIO of it. Measured on the test frames (docs/flow-cell.md): the ratio of a
clean background has its median at 0.99 and its 1st percentile at 0.95; 0.85 keeps the
frame edges and the background's texture out and finds each persistent particle and the
fibre of the real PlanktoScope frame. Not a science output: nothing here reaches the TSV.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import numpy.typing as npt

from segmenter.engine.seam import FlatField
from segmenter.errors import StorageError, storage_error
from streamer.files import atomic_write
from streamer.layout import Layout
from streamer.owned import Outputs

log = logging.getLogger(__name__)

U8 = npt.NDArray[np.uint8]
MAP_WIDTH = 1024  # px: the map's width (a 4056 px frame at a quarter)
BACKGROUND_PX = 41  # px at MAP_WIDTH (about 160 px of a 4056 px frame)
DARK_RATIO = 0.85  # a pixel darker than this fraction of its local background is dark
MIN_SPOT_PX = 2  # px at MAP_WIDTH: a lone dark pixel is noise, not a spot
MARK = (0, 0, 255)  # BGR: dark pixels are painted red on the map
BAND_BLOCKS = 64  # rows of the map shrunk at a time


def shrunk(flat: U8) -> U8:
    """The flat (the median, BGR) shrunk by a whole factor to at most MAP_WIDTH wide
    (4056 px: 1014), as 8-bit BGR: OpenCV's fast area average of `flat << 8`, shifted
    back (its rounding, not an 8-bit average's). When the factor divides both sides
    (OpenCV's integer-scale path: an output pixel is its block's alone), by bands of
    blocks, so that the 16-bit copy is a band's, not the frame's."""
    height, width = flat.shape[:2]
    factor = -(-width // MAP_WIDTH)
    if factor == 1:
        return flat.copy()  # kept by FlowCell: not a view of a flat that is freed
    whole_blocks = height % factor == 0 and width % factor == 0
    band = BAND_BLOCKS * factor if whole_blocks else height
    out = np.empty((height // factor, width // factor, *flat.shape[2:]), np.uint8)
    for y in range(0, height, band):
        wide = np.left_shift(flat[y : y + band], 8, dtype=np.uint16)
        size = (width // factor, wide.shape[0] // factor)
        small = np.asarray(cv2.resize(wide, size, interpolation=cv2.INTER_AREA), np.uint16)
        out[y // factor : y // factor + size[1]] = np.right_shift(small, 8)
    return out


def dark_pixels(image: U8) -> npt.NDArray[np.bool_]:
    """Where the (shrunk, BGR) flat is darker than DARK_RATIO of its local background,
    in spots of at least MIN_SPOT_PX pixels."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (BACKGROUND_PX, BACKGROUND_PX))
    background = cv2.blur(cv2.morphologyEx(gray, cv2.MORPH_CLOSE, disc), (BACKGROUND_PX,) * 2)
    dark = gray.astype(np.float32) < DARK_RATIO * np.maximum(background, 1).astype(np.float32)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= MIN_SPOT_PX
    keep[0] = False  # the background label
    return np.asarray(keep[labels], dtype=np.bool_)


class FlowCell:
    """The run's flats, as they are computed: the flat image (when `keep`), the map of
    what is dark in every one of them, and the figures for the summary."""

    def __init__(self, layout: Layout, outputs: Outputs, *, keep: bool) -> None:
        self.layout, self.outputs, self.keep = layout, outputs, keep
        self.image: U8 | None = None  # the latest flat, shrunk
        self.dark: npt.NDArray[np.bool_] | None = None  # dark in every flat so far

    def on_flat(self, flat_from: int, flat: FlatField) -> None:
        array: U8 = flat.array  # type: ignore[assignment]
        if self.keep:
            name = "flat_color.jpg" if flat_from == 0 else f"flat_{flat_from:05d}.jpg"
            self._write(name, array)
        image = shrunk(array)
        dark = dark_pixels(image)
        if self.dark is not None and self.dark.shape == dark.shape:
            dark &= self.dark
        self.image, self.dark = image, dark
        marked = image.copy()
        marked[dark] = MARK
        try:  # a debug image: a data root that refuses it loses the map, not the run
            self._write(self.layout.flow_cell_map.name, marked)
        except (OSError, StorageError) as exc:
            log.warning("%s: the flow cell map is not written: %s", self.layout.rel, exc)

    def figures(self) -> tuple[float | None, int | None]:
        """The percentage of the field of view that is clean (dark in no flat, 3
        decimals) and the number of dark spots; None before a flat."""
        if self.dark is None:
            return None, None
        count = cv2.connectedComponents(self.dark.astype(np.uint8), connectivity=8)[0] - 1
        clean = 100.0 * (1.0 - int(self.dark.sum()) / self.dark.size)
        return round(clean, 3), int(count)

    def _write(self, name: str, image: U8) -> None:
        path = self.layout.clean_dir / name
        if not self.outputs.claim_or_skip(path):
            return
        try:
            self.layout.clean_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(self.layout.clean_dir, exc) from exc
        ok, data = cv2.imencode(".jpg", image)
        if ok:
            atomic_write(path, bytes(data))
