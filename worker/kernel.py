"""`segment_frame`: one BGR frame to its objects' features and crop JPEGs. Pure: no file
or network I/O, no module state; the caller holds the previous frame's mask."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from worker.correct import correct_inplace, correction
from worker.features import FocusSink, outer_contour, region_features
from worker.mask import (
    Region,
    find_regions,
    remove_previous_mask,
    threshold_mask,
    triangle_threshold,
)
from worker.params import Params
from worker.qc import FocusGrid, FrameQC, background

U8 = npt.NDArray[np.uint8]


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
    """Per-object features (label = index within the frame), crop JPEGs and outer
    contours ([x, y] frame points, for the 2026-06 `metric` payload)."""

    features: list[dict[str, float | int]]
    crops: list[bytes]
    contours: list[list[list[int]]]
    qc: FrameQC | None = None


def object_features(
    region: Region,
    corrected: U8,
    *,
    gray: U8,
    index: int,
    threshold: float = math.nan,
    focus_sink: FocusSink | None = None,
) -> dict[str, float | int]:
    """The features of a kept region, in pixels; `label` is its index within the frame.
    After SPEC 2.5's: `focus`, `bw`, `bh` (the box) and the frame's `threshold`, which
    the 2026-06 output contract writes (streamer.contract)."""
    h, w = region.image.shape
    box = (slice(region.top, region.top + h), slice(region.left, region.left + w))
    offset = (region.top, region.left)
    feats = region_features(
        region.image, corrected[box], gray_crop=gray[box], offset=offset, focus_sink=focus_sink
    )
    feats["label"] = index
    feats.update(bw=w, bh=h, threshold=threshold)
    return feats


def object_crop(region: Region, corrected: U8, params: Params) -> bytes:
    """The region's padded crop of the corrected frame, as JPEG."""
    y0, y1, x0, x1 = crop_box(region, corrected.shape, params.crop_padding)
    return encode_jpeg(corrected[y0:y1, x0:x1], params.jpeg_quality)


def measure(
    corrected: U8,
    gray: U8,
    *,
    mask: U8,
    params: Params,
    threshold: float = math.nan,
    background: int | None = None,
) -> Segmentation:
    """Regions of a cleaned-to-be mask -> features, encoded crops and contours;
    `threshold` is the value the frame's triangle threshold chose; with the raw frame's
    `background` (worker.qc), the frame's QC too."""
    regions = find_regions(mask, params)
    grid = FocusGrid((gray.shape[0], gray.shape[1])) if background is not None else None
    features = [
        object_features(r, corrected, gray=gray, index=i, threshold=threshold, focus_sink=grid)
        for i, r in enumerate(regions)
    ]
    return Segmentation(
        features,
        [object_crop(r, corrected, params) for r in regions],
        [outer_contour(r.image, (r.top, r.left)) for r in regions],
        None if grid is None or background is None else grid.result(background, len(regions)),
    )


def segment_frame(
    frame: U8, flat: U8, *, params: Params, previous: U8 | None = None
) -> tuple[Segmentation, U8]:
    """Segment one BGR frame (corrected in place). Returns objects (with the frame's QC,
    worker.qc) and its threshold mask.

    `previous` is the previous frame's threshold mask, used when
    `params.remove_previous_mask` is on; the caller holds it.
    """
    brightness = background(frame)  # of the raw frame: before the correction
    gray = np.empty(frame.shape[:2], np.uint8)
    correct_inplace(frame, flat, corr=correction(params.clip_max), gray=gray)
    threshold, raw = triangle_threshold(gray)
    mask = remove_previous_mask(raw, previous) if params.remove_previous_mask else raw
    return measure(
        frame, gray, mask=mask, params=params, threshold=threshold, background=brightness
    ), raw


def frame_threshold(frame: U8, flat: U8, params: Params) -> U8:
    """Only the threshold mask of a frame (for the next frame's remove_previous_mask)."""
    gray = np.empty(frame.shape[:2], np.uint8)
    correct_inplace(frame, flat, corr=correction(params.clip_max), gray=gray)
    return threshold_mask(gray)
