"""Pure per-frame compute: correct, mask, label, measure, crop. No file or network I/O.

Fast and faithful to SPEC section 2:
- correction reads a 256x256 table holding the exact float64 result of
  `clip(v / f, 0, clip_max) / clip_max * 255` truncated to uint8, so it equals the
  literal float64 method bit for bit while touching each pixel once, strip by strip,
  in place (no full-frame float copy);
- morphology and labelling run only on windows around thresholded pixels, padded by
  more than the mask steps can move an edge, which gives the full-frame result;
- skimage regionprops runs on each region's own crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from segmenter.config import Params
from segmenter.features import esd_kept, region_features

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
STRIP_ROWS = 32


@lru_cache(maxsize=4)
def correction_lut(clip_max: float) -> U8:
    """Table indexed by `flat << 8 | value`: the float64 baseline result for each pair."""
    values = np.arange(256, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values[None, :] / values[:, None]  # row: flat value, column: frame value
        ratio = np.nan_to_num(ratio, nan=0.0, posinf=np.inf)
        ratio = np.clip(ratio, 0, clip_max)
        ratio = (ratio - 0) / (clip_max - 0)
        table = (ratio * 255 + 0).astype(np.uint8)
    table.setflags(write=False)
    return table.reshape(-1)


def flat_index(flat: U8) -> U16:
    """The flat field as table row offsets (`flat << 8`), computed once per flat."""
    return np.left_shift(flat.astype(np.uint16), 8)


def correct_inplace(frame: U8, flat_idx: U16, lut: U8, gray: U8 | None = None) -> None:
    """Flat-correct `frame` in place; also fill `gray` (BGR2GRAY) when given.

    The pixel at row 0, column 0 ends black in every channel, as the baseline sets it
    before its rescale: it anchors the triangle threshold's histogram at 0 (SPEC 2.2).
    """
    height = frame.shape[0]
    index = np.empty((min(STRIP_ROWS, height), *frame.shape[1:]), np.uint16)
    for y in range(0, height, STRIP_ROWS):
        strip = frame[y : y + STRIP_ROWS]
        idx = index[: strip.shape[0]]
        cv2.add(flat_idx[y : y + STRIP_ROWS], strip, dst=idx, dtype=cv2.CV_16U)
        np.take(lut, idx, out=strip, mode="clip")  # in range anyway; "clip" is faster
        if y == 0:
            strip[0, 0] = 0
        if gray is not None:
            cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY, dst=gray[y : y + STRIP_ROWS])


def threshold_mask(gray: U8) -> U8:
    """Inverted triangle threshold: dark organisms become 255."""
    _, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE)
    return np.asarray(mask, dtype=np.uint8)


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
    """Maximum of each `tile` x `tile` block (the last row and column may be partial)."""
    h, w = mask.shape
    full_h, full_w = h // tile, w // tile
    cols = np.empty((h, -(-w // tile)), np.uint8)
    cols[:, :full_w] = mask[:, : full_w * tile].reshape(h, full_w, tile).max(axis=2)
    if full_w * tile < w:
        cols[:, -1] = mask[:, full_w * tile :].max(axis=1)
    out = np.empty((-(-h // tile), cols.shape[1]), np.uint8)
    out[:full_h] = cols[: full_h * tile].reshape(full_h, tile, -1).max(axis=1)
    if full_h * tile < h:
        out[-1] = cols[full_h * tile :].max(axis=0)
    return out


def windows(mask: U8, margin: int) -> Windows:
    """Tile the frame by more than `margin` pixels and group the tiles with foreground."""
    tile = max(64, 2 * margin)
    h, w = mask.shape
    tiles = tile_max(mask, tile)
    grown = cv2.dilate(tiles, np.ones((3, 3), np.uint8))
    n, groups, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes = []
    for left, top, width, height, _area in stats[1:n]:
        y0, x0 = int(top) * tile, int(left) * tile
        boxes.append((y0, min(h, y0 + int(height) * tile), x0, min(w, x0 + int(width) * tile)))
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
    tiles = windows(eroded, params.morphology_reach + 2)
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


def crop_box(region: Region, shape: tuple[int, ...], padding: int) -> tuple[int, int, int, int]:
    h, w = region.image.shape
    return (
        max(0, region.top - padding),
        min(shape[0], region.top + h + padding),
        max(0, region.left - padding),
        min(shape[1], region.left + w + padding),
    )


def encode_jpeg(image: U8, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(data)


@dataclass(frozen=True, slots=True)
class Segmentation:
    """Per-object features (label = index within the frame) and crop JPEGs."""

    features: list[dict[str, float | int]]
    crops: list[bytes]


def object_features(region: Region, corrected: U8, gray: U8, index: int) -> dict[str, float | int]:
    """The features of a kept region; `label` is its index within the frame."""
    h, w = region.image.shape
    box = (slice(region.top, region.top + h), slice(region.left, region.left + w))
    feats = region_features(region.image, corrected[box], gray[box], (region.top, region.left))
    feats["label"] = index
    return feats


def object_crop(region: Region, corrected: U8, params: Params) -> bytes:
    """The region's padded crop of the corrected frame, as JPEG."""
    y0, y1, x0, x1 = crop_box(region, corrected.shape, params.crop_padding)
    return encode_jpeg(corrected[y0:y1, x0:x1], params.jpeg_quality)


def measure(corrected: U8, gray: U8, mask: U8, params: Params) -> Segmentation:
    """Regions of a cleaned-to-be mask -> features and encoded crops."""
    regions = find_regions(mask, params)
    return Segmentation(
        [object_features(r, corrected, gray, i) for i, r in enumerate(regions)],
        [object_crop(r, corrected, params) for r in regions],
    )


def segment_frame(
    frame: U8, flat_idx: U16, params: Params, previous: U8 | None = None
) -> tuple[Segmentation, U8]:
    """Segment one BGR frame (corrected in place). Returns objects and its threshold mask.

    `previous` is the previous frame's threshold mask, used when
    `params.remove_previous_mask` is on; the caller holds it.
    """
    gray = np.empty(frame.shape[:2], np.uint8)
    correct_inplace(frame, flat_idx, correction_lut(params.clip_max), gray)
    raw = threshold_mask(gray)
    mask = remove_previous_mask(raw, previous) if params.remove_previous_mask else raw
    return measure(frame, gray, mask, params), raw


def frame_threshold(frame: U8, flat_idx: U16, params: Params) -> U8:
    """Only the threshold mask of a frame (for the next frame's remove_previous_mask)."""
    gray = np.empty(frame.shape[:2], np.uint8)
    correct_inplace(frame, flat_idx, correction_lut(params.clip_max), gray)
    return threshold_mask(gray)
