"""The slow, literal float64 implementation of SPEC section 2: the scientific baseline.

Written straight from the SPEC, with no optimisation: full-frame float64 correction,
full-frame `skimage.measure.label` and `regionprops`. Tests hold the fast pipeline to
it, and the benchmark runs it as "the old service's method".

Conventions (the fast path shares them):
- `label` is a 1-based running index over the acquisition: its first kept object is 1.
- Object ids are `<frame stem>_<i>`, i the 0-based index of the kept object within its
  frame, in skimage label order (raster order of each region's first pixel).
- A ratio whose denominator is 0 (perimeter, major or minor axis of 0) is NaN.
- Flat windows and recalculation follow `flat_window` and `should_recalculate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from skimage.measure import label, regionprops

from segmenter.config import FEATURE_NAMES, Params
from segmenter.flat import flat_window, should_recalculate

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]
Features = dict[str, float | int]
Region = Any  # skimage.measure RegionProperties (skimage ships no type hints)


@dataclass(frozen=True, slots=True)
class ReferenceObject:
    """One kept region: its id, its features (FEATURE_NAMES order) and its BGR crop."""

    object_id: str
    features: Features
    crop: U8


def reference_flat(frames: Sequence[U8]) -> F64:
    """Per-pixel, per-channel median of the given BGR uint8 frames, as float64."""
    if not frames:
        raise ValueError("a flat needs at least one frame")
    stack = np.stack([np.asarray(f, dtype=np.uint8) for f in frames], axis=0)
    return np.asarray(np.median(stack, axis=0), dtype=np.float64)


def reference_correct(frame: U8, flat: F64, clip_max: float = 1.04) -> U8:
    """`frame / flat` clipped to [0, clip_max], scaled to 0-255 and truncated to uint8.

    The float64 op sequence of skimage's `rescale_intensity(in_range=(0, clip_max),
    out_range='uint8')` as the old service used it. 0/0 (NaN) becomes 0; x/0 (inf) clips
    to clip_max and so gives 255.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        img = frame.astype(np.float64) / flat
    img[np.isnan(img)] = 0.0
    img = np.clip(img, 0, clip_max)
    img = (img - 0) / (clip_max - 0)
    out: U8 = (img * 255 + 0).astype(np.uint8)
    return out


def reference_gray(corrected: U8) -> U8:
    """OpenCV BGR2GRAY of a BGR uint8 image."""
    return np.asarray(cv2.cvtColor(corrected, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def reference_threshold_mask(corrected: U8) -> U8:
    """Inverted triangle threshold of the gray image: dark objects 255, background 0."""
    flags = cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE
    _, mask = cv2.threshold(reference_gray(corrected), 0, 255, flags)
    return np.asarray(mask, dtype=np.uint8)


def reference_mask(threshold_mask: U8, previous_threshold_mask: U8 | None, params: Params) -> U8:
    """Optional remove_previous_mask, then erode, dilate, close, erode (SPEC 2.3).

    `previous_threshold_mask` is the previous frame's raw threshold mask (None for the
    first frame); it is used only when `params.remove_previous_mask`.
    """
    mask = threshold_mask.copy()
    if params.remove_previous_mask and previous_threshold_mask is not None:
        mask = mask - (mask & previous_threshold_mask)
    rect, ellipse = cv2.MORPH_RECT, cv2.MORPH_ELLIPSE
    erode = cv2.getStructuringElement(rect, (params.erode_size, params.erode_size))
    dilate = cv2.getStructuringElement(ellipse, (params.dilate_size, params.dilate_size))
    close = cv2.getStructuringElement(ellipse, (params.close_size, params.close_size))
    erode2 = cv2.getStructuringElement(ellipse, (params.erode2_size, params.erode2_size))
    out = cv2.erode(mask, erode)
    out = cv2.dilate(out, dilate)
    out = cv2.morphologyEx(out, cv2.MORPH_CLOSE, close)
    out = cv2.erode(out, erode2)
    return np.asarray(out, dtype=np.uint8)


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0."""
    return num / den if den != 0 else float("nan")


def reference_features(r: Region, corrected: U8, gray: U8, label_value: int) -> Features:
    """Every SPEC 2.5 feature of one skimage region of the full frame, FEATURE_NAMES order."""
    min_row, min_col, max_row, max_col = (int(v) for v in r.bbox)
    area = int(r.area)
    filled = int(r.area_filled)
    perimeter = float(r.perimeter)
    major = float(r.axis_major_length)
    minor = float(r.axis_minor_length)
    centroid = r.centroid
    local = r.centroid_local
    image_filled = np.asarray(r.image_filled, dtype=bool)

    gray_crop = gray[min_row:max_row, min_col:max_col]
    laplacian = cv2.Laplacian(gray_crop, cv2.CV_64F)
    color_crop = corrected[min_row:max_row, min_col:max_col]
    hsv = np.asarray(cv2.cvtColor(color_crop, cv2.COLOR_BGR2HSV), dtype=np.uint8)
    pixels = hsv[image_filled]  # (n, 3): H, S, V over the filled region

    features: Features = {
        "label": label_value,
        "width": max_col - min_col,
        "height": max_row - min_row,
        "bx": min_col,
        "by": min_row,
        "circ.": _ratio(4 * math.pi * filled, perimeter**2),
        "area_exc": area,
        "area": filled,
        "%area": 1 - area / filled,
        "major": major,
        "minor": minor,
        "y": float(centroid[0]),
        "x": float(centroid[1]),
        "convex_area": int(r.area_convex),
        "perim.": perimeter,
        "elongation": _ratio(major, minor),
        "perimareaexc": _ratio(perimeter, area),
        "perimmajor": _ratio(perimeter, major),
        "circex": _ratio(4 * math.pi * area, perimeter**2),
        "angle": float(r.orientation) * 180 / math.pi + 90,
        "bounding_box_area": int(r.area_bbox),
        "eccentricity": float(r.eccentricity),
        "equivalent_diameter": float(r.equivalent_diameter_area),
        "euler_number": int(r.euler_number),
        "extent": float(r.extent),
        "local_centroid_col": float(local[1]),
        "local_centroid_row": float(local[0]),
        "solidity": float(r.solidity),
        "blur_laplacian": float(np.var(laplacian)),
        "MeanHue": float(np.mean(pixels[:, 0])),
        "MeanSaturation": float(np.mean(pixels[:, 1])),
        "MeanValue": float(np.mean(pixels[:, 2])),
        "StdHue": float(np.std(pixels[:, 0])),
        "StdSaturation": float(np.std(pixels[:, 1])),
        "StdValue": float(np.std(pixels[:, 2])),
    }
    assert tuple(features) == FEATURE_NAMES
    return features


def reference_crop(corrected: U8, bbox: tuple[int, int, int, int], padding: int) -> U8:
    """The corrected colour image over bbox (min_row, min_col, max_row, max_col), padded
    by `padding` px on every side and clipped at the frame edges (a copy)."""
    min_row, min_col, max_row, max_col = bbox
    height, width = corrected.shape[:2]
    rows = slice(max(0, min_row - padding), min(height, max_row + padding))
    cols = slice(max(0, min_col - padding), min(width, max_col + padding))
    return corrected[rows, cols].copy()


def reference_objects(
    corrected: U8, mask: U8, params: Params, frame_stem: str, first_label: int
) -> list[ReferenceObject]:
    """Label the mask (8-connected), keep regions with area >= params.min_area_px, measure.

    Kept objects are numbered `<frame_stem>_0`, `_1`, ... in label order; their `label`
    feature runs from `first_label` on.
    """
    labels = label(mask > 0, connectivity=2)  # type: ignore[no-untyped-call]
    gray = reference_gray(corrected)
    objects: list[ReferenceObject] = []
    for region in regionprops(labels):  # type: ignore[no-untyped-call]
        if region.area < params.min_area_px:
            continue
        features = reference_features(region, corrected, gray, first_label + len(objects))
        min_row, min_col, max_row, max_col = (int(v) for v in region.bbox)
        bbox = (min_row, min_col, max_row, max_col)
        crop = reference_crop(corrected, bbox, params.crop_padding)
        objects.append(ReferenceObject(f"{frame_stem}_{len(objects)}", features, crop))
    return objects


def reference_segment(
    frames: Sequence[tuple[str, U8]], params: Params
) -> list[list[ReferenceObject]]:
    """Segment a whole acquisition the baseline way; one list of objects per frame.

    `frames` are (frame stem, BGR uint8 frame) pairs in name order. The initial flat is
    the median of `flat_window(0, ...)`; after frame i, when `should_recalculate`, the
    flat is recomputed from `flat_window(i + 1, ...)` before frame i + 1. With
    `params.remove_previous_mask`, frame i's mask loses the pixels of frame i-1's raw
    threshold mask (made with the flat in effect for frame i-1).
    """
    names = [name for name, _ in frames]
    if names != sorted(names):
        raise ValueError("frames must be given in name order")
    images = [image for _, image in frames]
    n_frames = len(images)
    results: list[list[ReferenceObject]] = []
    if n_frames == 0:
        return results
    flat = reference_flat([images[j] for j in flat_window(0, n_frames, params.flat_frames)])
    counts: list[int] = []
    previous: U8 | None = None
    for i, (stem, frame) in enumerate(frames):
        corrected = reference_correct(frame, flat, params.clip_max)
        threshold = reference_threshold_mask(corrected)
        mask = reference_mask(threshold, previous, params)
        objects = reference_objects(corrected, mask, params, stem, sum(counts) + 1)
        results.append(objects)
        previous = threshold
        if i + 1 < n_frames and should_recalculate(len(objects), counts, params):
            window = flat_window(i + 1, n_frames, params.flat_frames)
            flat = reference_flat([images[j] for j in window])
        counts.append(len(objects))
    return results
