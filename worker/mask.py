"""The mask of a frame and its regions (SPEC 2.3-2.4).

Threshold and first erosion run on the full frame; the other mask steps and the
labelling run only on windows around thresholded pixels, padded by more than the mask
steps can move an edge, which gives the full-frame result.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from worker.features import esd_kept
from worker.params import Params

U8 = npt.NDArray[np.uint8]


def triangle_threshold(gray: U8) -> tuple[float, U8]:
    """Inverted triangle threshold: the value cv2.threshold chose and the mask, where
    dark organisms become 255."""
    value, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE)
    return float(value), np.asarray(mask, dtype=np.uint8)


def threshold_mask(gray: U8) -> U8:
    """Inverted triangle threshold: dark organisms become 255."""
    return triangle_threshold(gray)[1]


def remove_previous_mask(mask: U8, previous: U8 | None) -> U8:
    """`mask - (mask & previous)`: drop what was already there on the previous frame."""
    if previous is None:
        return mask
    return np.asarray(cv2.bitwise_and(mask, cv2.bitwise_not(previous)), dtype=np.uint8)


def _kernel(shape: int, size: int) -> U8:
    return np.asarray(cv2.getStructuringElement(shape, (size, size)), dtype=np.uint8)


def first_erode(mask: U8, params: Params) -> U8:
    """The 2x2 rectangle erosion, on the full frame: it clears isolated noise pixels."""
    return np.asarray(cv2.erode(mask, _kernel(cv2.MORPH_RECT, params.erode_size)), np.uint8)


def grow_and_close(eroded: U8, params: Params) -> U8:
    """dilate ellipse -> close ellipse -> erode ellipse (the rest of SPEC 2.3)."""
    out = cv2.dilate(eroded, _kernel(cv2.MORPH_ELLIPSE, params.dilate_size))
    out = cv2.morphologyEx(out, cv2.MORPH_CLOSE, _kernel(cv2.MORPH_ELLIPSE, params.close_size))
    return np.asarray(cv2.erode(out, _kernel(cv2.MORPH_ELLIPSE, params.erode2_size)), np.uint8)


@dataclass(frozen=True, slots=True)
class Windows:
    """Groups of foreground tiles, each grown by one tile, and their pixel rectangles.

    A region's morphology and labels depend only on pixels closer than the tile size,
    so each group's rectangle yields the full-frame result for the regions whose first
    pixel lies in one of that group's tiles.
    """

    tile: int
    groups: npt.NDArray[np.int32]  # group number per tile, 0 for none
    boxes: list[tuple[int, int, int, int]]  # (y0, y1, x0, x1) of group k at index k - 1

    def owner(self, y: int, x: int) -> int:
        return int(self.groups[y // self.tile, x // self.tile])


def tile_max(mask: U8, tile: int) -> U8:
    """Maximum of each `tile` x `tile` block (the last row and column may be partial).

    Rows first: the maximum over a block of whole rows is an elementwise maximum of
    contiguous rows (vectorised), which leaves a small array for the columns."""
    h, w = mask.shape
    full_h, full_w = h // tile, w // tile
    rows = np.empty((-(-h // tile), w), np.uint8)
    np.max(mask[: full_h * tile].reshape(full_h, tile, w), axis=1, out=rows[:full_h])
    if full_h * tile < h:
        np.max(mask[full_h * tile :], axis=0, out=rows[-1])
    out = np.empty((rows.shape[0], -(-w // tile)), np.uint8)
    if full_w:  # a mask narrower than a tile has only the partial column
        out[:, :full_w] = rows[:, : full_w * tile].reshape(-1, full_w, tile).max(axis=2)
    if full_w * tile < w:
        out[:, -1] = rows[:, full_w * tile :].max(axis=1)
    return out


def morphology_radius(params: Params) -> int:
    """How far (px) one pixel of the mask steps' result can see: each OpenCV kernel of
    size k (anchor at k // 2) reaches k // 2 pixels; the closing counts twice."""
    sizes = (params.erode_size, params.dilate_size, params.close_size, params.close_size)
    return sum(k // 2 for k in (*sizes, params.erode2_size))


def _down(v: int, step: int = 8) -> int:
    return v - v % step


def _up(v: int, step: int = 8) -> int:
    return v + -v % step


def windows(mask: U8, margin: int, context: int | None = None) -> Windows:
    """Tile the frame by more than `margin` pixels and group the tiles with foreground.

    With `context`, each group's rectangle is cut down to the foreground inside it plus
    `context` pixels: a kept region lies within the steps' radius r of the foreground
    that makes it, and its pixels depend on the mask within r of them, so 2r + 2 pixels
    around the foreground hold everything its result depends on (the tile rectangle,
    grown by a whole tile, holds more). Edges are rounded out to multiples of 8: OpenCV's
    labelling takes twice as long on an odd width."""
    tile = max(64, 2 * margin)
    h, w = mask.shape
    tiles = tile_max(mask, tile)
    grown = cv2.dilate(tiles, np.ones((3, 3), np.uint8))
    n, groups, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes = []
    for left, top, width, height, _area in stats[1:n]:
        y0, x0 = int(top) * tile, int(left) * tile
        y1, x1 = min(h, y0 + int(height) * tile), min(w, x0 + int(width) * tile)
        if context is not None:
            bx, by, bw, bh = cv2.boundingRect(mask[y0:y1, x0:x1])
            top_y, left_x = y0 + by, x0 + bx
            y0, y1 = max(y0, _down(top_y - context)), min(y1, _up(top_y + bh + context))
            x0, x1 = max(x0, _down(left_x - context)), min(x1, _up(left_x + bw + context))
        boxes.append((y0, y1, x0, x1))
    return Windows(tile, np.asarray(groups, np.int32), boxes)


@dataclass(frozen=True, slots=True)
class Region:
    """A kept region: bbox in frame coordinates and its own boolean mask."""

    top: int
    left: int
    image: npt.NDArray[np.bool_]

    @property
    def first_pixel(self) -> tuple[int, int]:
        """Raster position of its first pixel: the order skimage.label numbers regions in."""
        return self.top, self.left + int(np.argmax(self.image[0]))


def clean_windows(mask: U8, params: Params) -> tuple[Windows, list[U8]]:
    """The first erosion on the full frame, then the rest of the mask steps on each
    window around the foreground (SPEC 2.3)."""
    eroded = first_erode(mask, params)
    tiles = windows(eroded, params.morphology_reach + 2, 2 * morphology_radius(params) + 2)
    cleaned = [
        grow_and_close(np.ascontiguousarray(eroded[y0:y1, x0:x1]), params)
        for y0, y1, x0, x1 in tiles.boxes
    ]
    return tiles, cleaned


def label_windows(tiles: Windows, cleaned: list[U8], params: Params) -> list[Region]:
    """8-connected regions of the cleaned windows with an ESD >= the threshold, each
    taken from the window that owns its first pixel, in raster order."""
    found: list[Region] = []
    for group, ((y0, _y1, x0, _x1), window) in enumerate(zip(tiles.boxes, cleaned, strict=True), 1):
        n, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            window, 8, cv2.CV_32S, cv2.CCL_BBDT
        )
        for lab in range(1, n):
            left, top, width, height, area = (int(v) for v in stats[lab])
            if not esd_kept(area, params.min_esd_px):
                continue
            image = labels[top : top + height, left : left + width] == lab
            region = Region(y0 + top, x0 + left, image)
            if tiles.owner(*region.first_pixel) == group:
                found.append(region)
    found.sort(key=lambda r: r.first_pixel)
    return found


def find_regions(mask: U8, params: Params) -> list[Region]:
    """The kept regions of a threshold mask once cleaned, in raster order."""
    return label_windows(*clean_windows(mask, params), params)
