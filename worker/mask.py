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


TILE = 16  # px: the foreground map's block (a power of 2 >= 8: 8 mask bytes read as a uint64)


@dataclass(frozen=True, slots=True)
class Windows:
    """Groups of foreground blocks (TILE x TILE) and each group's window.

    A region's morphology and labels depend only on the mask within the steps' radius r
    of its pixels, which lie within r of the foreground that makes them: foreground
    closer than 2r + 2 is grouped, and each group's window, its foreground's bounding box
    grown by 2r + 2, yields the full-frame result for the regions whose first pixel lies
    in a block of that group (blocks within r of its foreground are the group's).
    """

    groups: npt.NDArray[np.int32]  # group number per block, 0 for none
    boxes: list[tuple[int, int, int, int]]  # (y0, y1, x0, x1) of group k at index k - 1

    def owner(self, y: int, x: int) -> int:
        return int(self.groups[y // TILE, x // TILE])


def tile_any(mask: U8) -> npt.NDArray[np.bool_]:
    """Whether each TILE x TILE block holds a nonzero pixel (the last row and column of
    blocks may be partial). Rows first: a bitwise or of contiguous rows (vectorised);
    then each block's TILE bytes of that row, read as one uint64."""
    h, w = mask.shape
    full_h = h // TILE
    rows = np.zeros((-(-h // TILE), _up(w, TILE)), np.uint8)
    np.bitwise_or.reduce(
        mask[: full_h * TILE].reshape(full_h, TILE, w), axis=1, out=rows[:full_h, :w]
    )
    if full_h * TILE < h:
        np.bitwise_or.reduce(mask[full_h * TILE :], axis=0, out=rows[-1, :w])
    words = rows.view(np.uint64)
    for _ in range(TILE.bit_length() - 4):  # halve the words per block down to one
        words = words[:, 0::2] | words[:, 1::2]
    return np.asarray(words != 0)


def morphology_radius(params: Params) -> int:
    """How far (px) one pixel of the mask steps' result can see: each OpenCV kernel of
    size k (anchor at k // 2) reaches k // 2 pixels; the closing counts twice."""
    sizes = (params.erode_size, params.dilate_size, params.close_size, params.close_size)
    return sum(k // 2 for k in (*sizes, params.erode2_size))


def _down(v: int, step: int = 8) -> int:
    return v - v % step


def _up(v: int, step: int = 8) -> int:
    return v + -v % step


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def windows(mask: U8, radius: int) -> Windows:
    """Group the foreground of `mask` and cut each group's window (see `Windows`).

    Blocks with foreground are grown by g blocks and the grown map's 8-connected
    components are the groups: two foreground pixels d apart lie in blocks at most
    ceil(d / TILE) apart, linked when that is <= 2g + 1, so g covers both 2r + 2 and r.
    A group's window is the bounding box of the foreground in its blocks (OpenCV's, within
    them) grown by 2r + 2, edges rounded out to multiples of 8 (OpenCV's labelling takes
    twice as long on an odd width), clipped to the frame."""
    context = 2 * radius + 2
    grow = max(_ceil_div(radius, TILE), _ceil_div(_ceil_div(context, TILE) - 1, 2))
    h, w = mask.shape
    fg = tile_any(mask).view(np.uint8)
    side = 2 * grow + 1
    grown = cv2.dilate(fg, np.ones((side, side), np.uint8))
    n, groups, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    rows, cols = fg.shape
    boxes = []
    for left, top, width, height, _area in stats[1:n]:
        # the group's foreground blocks: the grown box less the growth where not clipped
        t0 = int(top) + grow if top > 0 else 0
        t1 = int(top + height) - grow if top + height < rows else rows
        l0 = int(left) + grow if left > 0 else 0
        l1 = int(left + width) - grow if left + width < cols else cols
        y0, x0 = t0 * TILE, l0 * TILE
        bx, by, bw, bh = cv2.boundingRect(mask[y0 : min(h, t1 * TILE), x0 : min(w, l1 * TILE)])
        y0, x0 = y0 + by, x0 + bx
        boxes.append(
            (
                max(0, _down(y0 - context)),
                min(h, _up(y0 + bh + context)),
                max(0, _down(x0 - context)),
                min(w, _up(x0 + bw + context)),
            )
        )
    return Windows(np.asarray(groups, np.int32), boxes)


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
    tiles = windows(eroded, morphology_radius(params))
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
