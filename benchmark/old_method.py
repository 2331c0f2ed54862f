"""The old PlanktoScope segmenter's method, transcribed step by step from its code.

What fairscope/PlanktoScope `segmenter/planktoscope/segmenter/__init__.py` (commit
3bef3ddd2e9c) does to the frames of one acquisition, without its MQTT, files and
globals: a float64 `frame / flat`, the black pixel at (0, 0), skimage's
`rescale_intensity`, the triangle threshold, the mask steps, full-frame
`skimage.measure.label` and `regionprops`, its feature formulas, its flat-recalculation
heuristic and windows. It imports nothing of this project, so it can judge the engine:
the benchmark times it as "the old method" and the tests hold it to the old program's
own outputs (`../shared/baseline/`), then the engine to it on inputs the baseline does
not cover. Deliberate departures, both from SPEC section 2: the minimum ESD is given in
pixels by the caller, and the empty recalculation window it crashes on is replaced by
`frames[0 : j]`; the previous mask is never carried into another acquisition. Off
x86-64 (the old program's machine) the HSV conversion is OpenCV's x86-64 formula
transcribed here, not the local OpenCV's, whose S differs there (`_x86_hsv`).
"""

from __future__ import annotations

import io
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import PIL.Image
import skimage.exposure
import skimage.measure

U8 = npt.NDArray[np.uint8]
Features = dict[str, float | int]

CLIP = 1.04
PADDING = 10
MARGIN = 20  # objects above the running mean that ask for a new flat
SPAN = 10  # frames its flat slices take (the median uses the first 9 of them)


@dataclass(frozen=True, slots=True)
class OldObject:
    object_id: str
    features: Features  # the old `{**metadata, **colors}`: its names and order
    crop: U8  # BGR, padded by 10 px


def manual_median(frames: Sequence[U8], count: int) -> U8:
    """Its `_calculate_flat`: `count` made odd, capped at the frames given, then the
    element `count // 2` of the per-pixel sort (the upper middle for an even count)."""
    if count % 2 == 0:
        count -= 1
    count = min(count, len(frames))
    stack = np.array(frames[:count])
    stack.sort(axis=0)
    return np.asarray(stack[int(len(stack) / 2)], dtype=np.uint8)


def correct(frame: U8, flat: U8) -> U8:
    """Its `_open_and_apply_flat` after the read."""
    with np.errstate(divide="ignore", invalid="ignore"):
        image = frame / flat
    image[0][0] = [0, 0, 0]
    out = skimage.exposure.rescale_intensity(  # type: ignore[no-untyped-call]
        image, in_range=(0, CLIP), out_range="uint8"
    )
    return np.asarray(out, dtype=np.uint8)


def _kernel(shape: int, size: int) -> U8:
    return np.asarray(cv2.getStructuringElement(shape, (size, size)), dtype=np.uint8)


def threshold(image: U8) -> U8:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    _, mask = cv2.threshold(gray, 127, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE)
    return np.asarray(mask, dtype=np.uint8)


def clean(mask: U8, previous: U8 | None) -> U8:
    """remove_previous_mask (when `previous` is given), erode, dilate, close, erode2."""
    out: Any = mask if previous is None else mask - (mask & previous)
    out = cv2.erode(out, _kernel(cv2.MORPH_RECT, 2))
    out = cv2.dilate(out, _kernel(cv2.MORPH_ELLIPSE, 8))
    out = cv2.morphologyEx(out, cv2.MORPH_CLOSE, _kernel(cv2.MORPH_ELLIPSE, 8))
    return np.asarray(cv2.erode(out, _kernel(cv2.MORPH_ELLIPSE, 8)), dtype=np.uint8)


_X86 = platform.machine().lower() in {"x86_64", "amd64"}


def _x86_hsv(bgr: U8) -> tuple[npt.NDArray[np.int64], ...]:
    """`cv2.cvtColor(BGR2HSV)` as the old program's x86-64 machine computes it: OpenCV's
    scalar `RGB2HSV_b` (tables with hsv_shift 12), which its SIMD and IPP paths equal
    there on every colour. On arm64 OpenCV's own S differs on some colours."""
    b, g, r = (bgr[..., k].astype(np.int64) for k in range(3))
    v = np.maximum(np.maximum(b, g), r)
    diff = v - np.minimum(np.minimum(b, g), r)
    i = np.arange(1, 256, dtype=np.float64)
    sdiv, hdiv = np.zeros(256, np.int64), np.zeros(256, np.int64)
    sdiv[1:], hdiv[1:] = np.rint((255 << 12) / i), np.rint((180 << 12) / (6.0 * i))
    s = (diff * sdiv[v] + (1 << 11)) >> 12
    num = np.where(v == r, g - b, np.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    h = (num * hdiv[diff] + (1 << 11)) >> 12
    return h + np.where(h < 0, 180, 0), s, v


def _hsv(bgr: U8) -> tuple[Any, ...]:
    if _X86:
        return tuple(cv2.split(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)))
    return tuple(c.astype(np.uint8) for c in _x86_hsv(bgr))


def _colors(bgr: U8, mask: npt.NDArray[np.bool_]) -> Features:
    h, s, v = _hsv(bgr)
    return {
        "MeanHue": float(np.mean(h, where=mask)),
        "MeanSaturation": float(np.mean(s, where=mask)),
        "MeanValue": float(np.mean(v, where=mask)),
        "StdHue": float(np.std(h, where=mask)),
        "StdSaturation": float(np.std(s, where=mask)),
        "StdValue": float(np.std(v, where=mask)),
    }


def _divide(num: float, den: float) -> float:
    """Its `np.divide` of two floats (inf or nan on a zero denominator), and its `/`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(np.float64(num), np.float64(den)))


def _shape(prop: Any) -> Features:
    """Its `_extract_metadata_from_regionprop`, with skimage's current property names."""
    min_row, min_col, max_row, max_col = prop.bbox
    return {
        "label": prop.label,
        "width": max_col - min_col,
        "height": max_row - min_row,
        "bx": min_col,
        "by": min_row,
        "circ.": _divide(4 * np.pi * prop.area_filled, prop.perimeter**2),
        "area_exc": prop.area,
        "area": prop.area_filled,
        "%area": 1 - _divide(prop.area, prop.area_filled),
        "major": prop.axis_major_length,
        "minor": prop.axis_minor_length,
        "y": prop.centroid[0],
        "x": prop.centroid[1],
        "convex_area": prop.area_convex,
        "perim.": prop.perimeter,
        "elongation": _divide(prop.axis_major_length, prop.axis_minor_length),
        "perimareaexc": _divide(prop.perimeter, prop.area),
        "perimmajor": _divide(prop.perimeter, prop.axis_major_length),
        "circex": _divide(4 * np.pi * prop.area, prop.perimeter**2),
        "angle": prop.orientation / np.pi * 180 + 90,
        "bounding_box_area": prop.area_bbox,
        "eccentricity": prop.eccentricity,
        "equivalent_diameter": prop.equivalent_diameter_area,
        "euler_number": prop.euler_number,
        "extent": prop.extent,
        "local_centroid_col": prop.centroid_local[1],
        "local_centroid_row": prop.centroid_local[0],
        "solidity": prop.solidity,
    }


def encode_crop(crop: U8) -> bytes:
    """Its `_save_image`: RGB through PIL, JPEG with PIL's defaults (quality 75)."""
    out = io.BytesIO()
    PIL.Image.fromarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)).save(out, format="JPEG")
    return out.getvalue()


def _padded(region: Any, shape: tuple[int, ...]) -> tuple[slice, slice]:
    rows, cols = region.slice
    return (
        slice(max(0, rows.start - PADDING), rows.stop + PADDING),
        slice(max(0, cols.start - PADDING), cols.stop + PADDING),
    )


def objects(image: U8, mask: U8, *, min_esd_px: float, stem: str, start: int) -> list[OldObject]:
    """Its `_slice_image`: label, keep ESD >= min_esd_px, measure, crop."""
    labels = skimage.measure.label(mask)  # type: ignore[no-untyped-call]
    kept = [
        r
        for r in skimage.measure.regionprops(labels)  # type: ignore[no-untyped-call]
        if r.equivalent_diameter_area >= min_esd_px
    ]
    found = []
    for i, region in enumerate(kept):
        region.label = i + start
        crop = image[region.slice]
        features = {k: _plain(v) for k, v in _shape(region).items()}
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        features["blur_laplacian"] = float(cv2.Laplacian(gray, cv2.CV_64F).var())
        features.update(_colors(crop, region.image_filled))
        found.append(OldObject(f"{stem}_{i}", features, image[_padded(region, labels.shape)]))
    return found


def _plain(value: Any) -> float | int:
    """numpy scalars as Python numbers, as its JSON encoder wrote them."""
    return int(value) if isinstance(value, int | np.integer) else float(value)


def recalculation_window(frames: Sequence[Any], j: int) -> Sequence[Any]:
    """The frames its flat is recomputed from before frame `j` (the first 9 are used)."""
    n = len(frames)
    if n == SPAN:
        return frames
    if j > n - (SPAN + 1):
        window = frames[j - SPAN : j]
        return window if len(window) else frames[max(0, j - SPAN) : j]
    return frames[j : j + SPAN]


def segment(
    frames: Sequence[tuple[str, U8]],
    min_esd_px: float,
    *,
    remove_previous_mask: bool = False,
    on_flat: Callable[[int], None] | None = None,
    on_image: Callable[[str, U8, U8], None] | None = None,
) -> list[list[OldObject]]:
    """Its `_pipe` over (frame stem, BGR frame) pairs in name order: one list per frame.
    `on_flat(j)` is told of each flat it computes (0 first, then each recalculation),
    `on_image(stem, corrected, mask)` of each frame's corrected image and cleaned mask."""
    images = [image for _, image in frames]
    flat = manual_median(images[:SPAN], min(SPAN, len(images)))
    if on_flat:
        on_flat(0)
    previous: U8 | None = None
    total, average, recalculate = 0, 0.0, False
    out: list[list[OldObject]] = []
    for i, (stem, frame) in enumerate(frames):
        if recalculate:
            recalculate = False
            flat = manual_median(list(recalculation_window(images, i)), SPAN)
            if on_flat:
                on_flat(i)
        image = correct(frame, flat)
        raw = threshold(image)
        mask = clean(raw, previous if remove_previous_mask else None)
        previous = raw
        if on_image:
            on_image(stem, image, mask)
        found = objects(image, mask, min_esd_px=min_esd_px, stem=stem, start=total)
        out.append(found)
        count = len(found)
        total += count
        if average != 0 and count > average + MARGIN:
            recalculate = True
        average = (average * i + count) / (i + 1)
    return out
