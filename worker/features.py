"""Object features (SPEC section 2.5) from a region's own mask and its unpadded crops.

Each feature is a small function of skimage's region properties (current names), so
it can be checked on a tiny array with a known answer. Every formula is written in the
baseline's order of operations (its `orientation / pi * 180`, its centroid as the mean of
frame coordinates, its `np.mean(channel, where=mask)`), so that the results equal its
bit for bit, not only within rounding. `offset` is the crop's (top, left) in the frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
from skimage.measure import regionprops
from skimage.measure._regionprops import RegionProperties

from worker.topology import Topology, topology

Features = dict[str, float | int]


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0 (a one-pixel-wide region has minor axis 0)."""
    return num / den if den else math.nan


def _circularity(area: float, perimeter: float) -> float:
    return _ratio(4 * math.pi * area, perimeter**2)


_EDGE_STEPS = np.array([[0, -1], [0, 1], [-1, 0], [1, 0]])  # edge midpoints, doubled
_EPS = 1e-9


def convex_pixel_count(image: npt.NDArray[np.bool_]) -> int:
    """skimage's `area_convex`, exactly, without rasterising the hull point by point.

    skimage takes the convex hull of the midpoints of every pixel edge and counts the
    pixel centres inside it or on its border. Every pixel lies between the first and the
    last pixel of its row, so the hull of those two pixels' edge midpoints per row is the
    same hull; its vertices, doubled, are integers (cv2.convexHull on int32 is exact).
    The count is then made row by row from where the hull's edges cross the row (a
    convex polygon meets a row in one interval).
    """
    h, w = image.shape
    rows = np.flatnonzero(image.any(axis=1))
    first_c = image[rows].argmax(axis=1)
    last_c = w - 1 - image[rows, ::-1].argmax(axis=1)
    ends = np.concatenate([np.stack([rows, first_c], 1), np.stack([rows, last_c], 1)])
    points = (2 * ends[:, None, :] + _EDGE_STEPS).reshape(-1, 2).astype(np.int32)
    hull = cv2.convexHull(points).reshape(-1, 2).astype(np.float64) / 2  # exact: halves
    r0, c0 = hull[:, 0], hull[:, 1]
    r1, c1 = np.roll(r0, -1), np.roll(c0, -1)
    y = np.arange(h, dtype=np.float64)[:, None]
    crosses = (y >= np.minimum(r0, r1) - _EPS) & (y <= np.maximum(r0, r1) + _EPS)
    level = np.abs(r1 - r0) < _EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        x = c0 + (y - r0) / (r1 - r0) * (c1 - c0)
    sloped = crosses & ~level
    flat = crosses & level
    lo = np.minimum(
        np.where(sloped, x, np.inf).min(axis=1),
        np.where(flat, np.minimum(c0, c1), np.inf).min(axis=1),
    )
    hi = np.maximum(
        np.where(sloped, x, -np.inf).max(axis=1),
        np.where(flat, np.maximum(c0, c1), -np.inf).max(axis=1),
    )
    inside = np.isfinite(lo)
    left = np.maximum(np.ceil(lo[inside] - _EPS), 0)
    right = np.minimum(np.floor(hi[inside] + _EPS), w - 1)
    return int(np.maximum(right - left + 1, 0).sum())


def centroid(props: RegionProperties, offset: tuple[int, int]) -> tuple[float, float]:
    """(row, col) in frame coordinates: skimage's mean of the frame coordinates."""
    coords = (props.coords + np.asarray(offset)).astype(np.float64)
    row, col = coords.mean(axis=0)
    return float(row), float(col)


def esd_kept(area: int, min_esd_px: float) -> bool:
    """skimage's `equivalent_diameter_area >= min_esd_px`, with its arithmetic."""
    return bool((2 * 2 * float(area) / math.pi) ** (1 / 2) >= min_esd_px)


def shape_features(props: RegionProperties, topo: Topology, offset: tuple[int, int]) -> Features:
    """Shape features from skimage region properties, each property read once, and the
    integer ones skimage computes slowly (`worker.topology`, equal to skimage's)."""
    area, filled = int(props.area), topo.area_filled
    perimeter = topo.perimeter
    major, minor = float(props.axis_major_length), float(props.axis_minor_length)
    convex = convex_pixel_count(props.image)
    min_row, min_col, max_row, max_col = props.bbox
    y, x = centroid(props, offset)
    local = props.centroid_local
    return {
        "width": int(max_col - min_col),
        "height": int(max_row - min_row),
        "circ.": _circularity(filled, perimeter),
        "area_exc": area,
        "area": filled,
        "%area": 1 - area / filled,
        "major": major,
        "minor": minor,
        "y": y,
        "x": x,
        "convex_area": convex,
        "perim.": perimeter,
        "elongation": _ratio(major, minor),
        "perimareaexc": _ratio(perimeter, area),
        "perimmajor": _ratio(perimeter, major),
        "circex": _circularity(area, perimeter),
        "angle": float(props.orientation) / math.pi * 180 + 90,
        "bounding_box_area": int(props.area_bbox),
        "eccentricity": float(props.eccentricity),
        "equivalent_diameter": float(props.equivalent_diameter_area),
        "euler_number": topo.euler_number,
        "extent": float(props.extent),
        "local_centroid_col": float(local[1]),
        "local_centroid_row": float(local[0]),
        "solidity": area / convex,
    }


def blur_laplacian(gray_crop: npt.NDArray[np.uint8]) -> float:
    """Variance of the CV_64F Laplacian of the gray, unpadded bbox crop."""
    return float(np.var(cv2.Laplacian(gray_crop, cv2.CV_64F)))


def hsv_stats(color_crop: npt.NDArray[np.uint8], filled: npt.NDArray[np.bool_]) -> Features:
    """Mean and std of OpenCV 8-bit H, S, V over the filled region."""
    channels = cv2.split(cv2.cvtColor(color_crop, cv2.COLOR_BGR2HSV))
    names = ("Hue", "Saturation", "Value")
    out: Features = {
        f"Mean{n}": float(np.mean(c, where=filled)) for n, c in zip(names, channels, strict=True)
    }
    out.update(
        {f"Std{n}": float(np.std(c, where=filled)) for n, c in zip(names, channels, strict=True)}
    )
    return out


def region_features(
    image: npt.NDArray[np.bool_],
    color_crop: npt.NDArray[np.uint8],
    gray_crop: npt.NDArray[np.uint8],
    offset: tuple[int, int] = (0, 0),
) -> Features:
    """Every SPEC 2.5 feature but `label` of a region whose bbox starts at `offset`."""
    props = regionprops(image.astype(np.uint8))[0]  # type: ignore[no-untyped-call]
    feats: Features = {"label": 0, "width": 0, "height": 0, "bx": offset[1], "by": offset[0]}
    topo = topology(props.image)
    feats.update(shape_features(props, topo, offset))
    feats["blur_laplacian"] = blur_laplacian(gray_crop)
    feats.update(hsv_stats(color_crop, topo.filled))
    return feats
