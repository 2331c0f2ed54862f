"""Object features (SPEC section 2.5) from a region's own mask and its unpadded crops.

Each feature is skimage's region property of the old program (current names) computed
without building a RegionProperties per region, and the same on every CPU
(docs/exactness.md): counts, centroids and colour means from exact integer sums, H, S
and V from OpenCV's integer formula (`worker.hsv`), the second moments correctly rounded
from exact integers (`worker.moments`), the integer topology and the perimeter from
`worker.topology`. Every other formula keeps the baseline's order of operations (its
`orientation / pi * 180`, its centroid as the mean of frame coordinates, numpy's
`std(where=)` steps), so that the results equal its bit for bit; the moments' equal its
within 3e-14 (its last bits came from its machine's OpenBLAS, LAPACK and libm).
`offset` is the crop's (top, left) in the frame.
"""

from __future__ import annotations

import math
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from worker.hsv import bgr_to_hsv
from worker.moments import atan2, eigenvalues, moments
from worker.topology import Topology, topology

Features = dict[str, float | int]
Int32 = npt.NDArray[np.int32]


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0 (a one-pixel-wide region has minor axis 0)."""
    return num / den if den else math.nan


def _circularity(area: float, perimeter: float) -> float:
    return _ratio(4 * math.pi * area, perimeter**2)


_EDGE_STEPS = np.array([[0, -1], [0, 1], [-1, 0], [1, 0]])  # edge midpoints, doubled


def _chain_columns(
    ys: npt.NDArray[np.int64], xs: npt.NDArray[np.int64], rows2: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Where one hull chain (ys non-decreasing, doubled) crosses the doubled pixel rows
    `rows2`: the first and the last pixel column at or beyond it, by integer division."""
    s = np.searchsorted(ys, rows2, side="right") - 1
    ya, xa = ys[s], xs[s]
    den = ys[s + 1] - ya
    num = xa * den + (rows2 - ya) * (xs[s + 1] - xa)  # crossing at num / den, doubled
    return -(-num // (2 * den)), num // (2 * den)


def convex_pixel_count(image: npt.NDArray[np.bool_]) -> int:
    """skimage's `area_convex`, exactly, without rasterising the hull point by point.

    skimage takes the convex hull of the midpoints of every pixel edge and counts the
    pixel centres inside it or on its border. Every pixel lies between the first and the
    last pixel of its row, so the hull of those two pixels' edge midpoints per row is the
    same hull; its vertices, doubled, are integers (cv2.convexHull on int32 is exact).
    Each pixel row crosses the hull's two chains, from its top vertex to its bottom one,
    at rationals whose ceiling and floor are taken in integers. The top and bottom
    vertices are the midpoints above the first row and below the last (odd doubled
    rows), so a pixel row never meets a horizontal edge.
    """
    w = image.shape[1]
    rows = np.flatnonzero(image.any(axis=1))
    first_c = image[rows].argmax(axis=1)
    last_c = w - 1 - image[rows, ::-1].argmax(axis=1)
    ends = np.concatenate([np.stack([rows, first_c], 1), np.stack([rows, last_c], 1)])
    points = (2 * ends[:, None, :] + _EDGE_STEPS).reshape(-1, 2).astype(np.int32)
    hull = cv2.convexHull(points).reshape(-1, 2).astype(np.int64)
    n = len(hull)
    top, bottom = int(hull[:, 0].argmin()), int(hull[:, 0].argmax())
    one_way = (top + np.arange((bottom - top) % n + 1)) % n
    other_way = (top - np.arange((top - bottom) % n + 1)) % n
    rows2 = 2 * np.arange(rows[0], rows[-1] + 1, dtype=np.int64)
    lo_a, hi_a = _chain_columns(hull[one_way, 0], hull[one_way, 1], rows2)
    lo_b, hi_b = _chain_columns(hull[other_way, 0], hull[other_way, 1], rows2)
    left = np.maximum(np.minimum(lo_a, lo_b), 0)
    right = np.minimum(np.maximum(hi_a, hi_b), w - 1)
    return int(np.maximum(right - left + 1, 0).sum())


def equivalent_diameter(area: int) -> float:
    """skimage's `(2 * 2 * area / pi) ** (1 / 2)` with a correctly rounded square root:
    libm's pow rounds it by CPU (glibc 2.36's misrounds about 1 area in 1,000 below 2^24,
    with FMA and without, not the same ones; none of the baseline's)."""
    return math.sqrt(2 * 2 * float(area) / math.pi)


def esd_kept(area: int, min_esd_px: float) -> bool:
    """skimage's `equivalent_diameter_area >= min_esd_px`."""
    return equivalent_diameter(area) >= min_esd_px


def shape_features(
    image: npt.NDArray[np.bool_], topo: Topology, offset: tuple[int, int]
) -> Features:
    """Shape features of a region's tight boolean crop, as skimage's regionprops gives them.

    Counts and the centroids are exact integers and quotients of exact integers (skimage
    sums integer coordinates in float64, exactly). The second moments, eigenvalues and
    orientation are correctly rounded from exact integers (`worker.moments`): within
    1e-12 of skimage's, and the same on every CPU, which skimage's are not.
    """
    h, w = image.shape
    m = moments(image)
    area, row_sum, col_sum = m.n, m.sum_r, m.sum_c
    filled, perimeter = topo.area_filled, topo.perimeter
    local = (row_sum / area, col_sum / area)  # skimage's M[1, 0] / M[0, 0], M[0, 1] / M[0, 0]
    l1, l2 = eigenvalues(m)
    major, minor = 4 * math.sqrt(l1), 4 * math.sqrt(l2)
    convex = convex_pixel_count(image)
    # skimage's orientation of the tensor [[C, -B], [-B, A]] / n^2: +-pi/4 when its
    # diagonal is equal, else 0.5 * atan2(-2 * tensor[0, 1], tensor[1, 1] - tensor[0, 0])
    angle = (
        (-math.pi / 4 if m.b <= 0 else math.pi / 4)
        if m.a == m.c
        else 0.5 * atan2(2 * m.b, m.a - m.c)
    )
    return {
        "width": w,
        "height": h,
        "circ.": _circularity(filled, perimeter),
        "area_exc": area,
        "area": filled,
        "%area": 1 - area / filled,
        "major": major,
        "minor": minor,
        "y": (row_sum + area * offset[0]) / area,  # skimage's mean of frame coordinates
        "x": (col_sum + area * offset[1]) / area,
        "convex_area": convex,
        "perim.": perimeter,
        "elongation": _ratio(major, minor),
        "perimareaexc": _ratio(perimeter, area),
        "perimmajor": _ratio(perimeter, major),
        "circex": _circularity(area, perimeter),
        "angle": angle / math.pi * 180 + 90,
        "bounding_box_area": h * w,
        "eccentricity": 0.0 if l1 == 0 else math.sqrt(1 - l2 / l1),
        "equivalent_diameter": equivalent_diameter(area),
        "euler_number": topo.euler_number,
        "extent": area / (h * w),
        "local_centroid_col": local[1],
        "local_centroid_row": local[0],
        "solidity": area / convex,
    }


def blur_laplacian(gray_crop: npt.NDArray[np.uint8]) -> float:
    """Variance of the CV_64F Laplacian of the gray, unpadded bbox crop."""
    return float(np.var(cv2.Laplacian(gray_crop, cv2.CV_64F)))


def hsv_stats(
    color_crop: npt.NDArray[np.uint8], filled: npt.NDArray[np.bool_], count: int
) -> Features:
    """Mean and std of OpenCV 8-bit H, S, V (`worker.hsv`: x86-64 OpenCV's, in integers)
    over the filled region (`count` pixels), as numpy's `mean(c, where=filled)` and
    `std(c, where=filled)` give them: the mean is an exact integer sum over the count; the
    std repeats numpy's `_var` steps from it (elementwise IEEE operations and numpy's
    pairwise sum, whose order does not depend on the CPU)."""
    out: Features = {}
    stds: Features = {}
    for name, channel in zip(("Hue", "Saturation", "Value"), bgr_to_hsv(color_crop), strict=True):
        mean = int(np.add.reduce(channel, axis=None, dtype=np.int64, where=filled)) / count
        dev = np.subtract(channel, np.float64(mean))
        np.square(dev, out=dev)
        var = np.add.reduce(dev, axis=None, dtype=np.float64, where=filled) / np.intp(count)
        out[f"Mean{name}"] = mean
        stds[f"Std{name}"] = float(np.sqrt(var))
    out.update(stds)
    return out


class FocusSink(Protocol):
    """Takes a region's focus terms (`focus_terms`: per pixel of its crop, 0 outside its
    band), the crop's (top, left) in the frame at `offset` (the frame's QC)."""

    def __call__(self, offset: tuple[int, int], lap2: Int32, grad2: Int32) -> None: ...


def region_features(
    image: npt.NDArray[np.bool_],
    color_crop: npt.NDArray[np.uint8],
    *,
    gray_crop: npt.NDArray[np.uint8],
    offset: tuple[int, int] = (0, 0),
    focus_sink: FocusSink | None = None,
) -> Features:
    """Every SPEC 2.5 feature but `label` of a region whose bbox starts at `offset`, in
    its order, then `focus` (SPEC 7's focus score), whose per-pixel terms go to
    `focus_sink` too when given (worker.qc: the frame's focus and its grid)."""
    feats: Features = {"label": 0, "width": 0, "height": 0, "bx": offset[1], "by": offset[0]}
    topo = topology(image)
    feats.update(shape_features(image, topo, offset))
    feats["blur_laplacian"] = blur_laplacian(gray_crop)
    feats.update(hsv_stats(color_crop, topo.filled, topo.area_filled))
    lap2, grad2 = focus_terms(gray_crop, topo.filled)
    feats["focus"] = focus_ratio(total(lap2), total(grad2))  # raw, for 2026-06
    if focus_sink is not None:
        focus_sink(offset, lap2, grad2)
    return feats


def total(terms: Int32) -> int:
    """The exact sum of an array of focus terms (int64 accumulation)."""
    return int(terms.sum(dtype=np.int64))


_BAND = np.ones((3, 3), np.uint8)


def focus_terms(
    gray_crop: npt.NDArray[np.uint8], filled: npt.NDArray[np.bool_]
) -> tuple[Int32, Int32]:
    """The per-pixel terms of the focus score (`focus_score`), L*L and gx*gx + gy*gy, per
    pixel of the crop, 0 outside the band around `filled`; exact int32 (L*L < 2^22, gx*gx
    + gy*gy < 2^21). Whole-crop array operations: no per-pixel index lists."""
    band = np.asarray(cv2.dilate(filled.view(np.uint8), _BAND), np.uint8)
    lap2 = cv2.Laplacian(gray_crop, cv2.CV_16S, ksize=3).astype(np.int32)
    gx, gy = cv2.spatialGradient(gray_crop)  # Sobel's ksize=3 dx and dy, in one pass
    grad2 = gx.astype(np.int32)
    gy2 = gy.astype(np.int32)
    lap2 *= lap2
    grad2 *= grad2
    gy2 *= gy2
    grad2 += gy2
    lap2 *= band
    grad2 *= band
    return lap2, grad2


def focus_score(gray_crop: npt.NDArray[np.uint8], filled: npt.NDArray[np.bool_]) -> float:
    """The focus score of PlanktoScope #978 (higher = sharper), NaN without gradient.

    On the tight bbox crop `gray_crop` and the filled region `filled` (same shape):
    ``band = dilate(filled, 3x3 square)``, ``L = Laplacian(gray, ksize=3)``,
    ``gx, gy = Sobel(gray, ksize=3)``, and

        score = float(sum_band(L*L)) / float(sum_band(gx*gx + gy*gy))

    with both sums exact int64 integers (`focus_terms`). Upstream computes L, gx, gy in
    float32; on a uint8 image they are integers (|L| <= 2040, |g| <= 1020; kernels
    [[2,0,2],[0,-8,0],[2,0,2]] and [[-1,0,1],[-2,0,2],[-1,0,1]], border reflect-101),
    and so are their squares, all exact in float32 (< 2**24). Only upstream's float32
    *sums* round, in an order that depends on the CPU's SIMD width; here the sums are
    exact and the one rounding is the float64 division, so the score is the same on
    every CPU. NaN (an empty cell, MQTT null) where upstream returns None: gradient sum
    <= 1e-6, i.e. 0.
    """
    lap2, grad2 = focus_terms(gray_crop, filled)
    return focus_ratio(total(lap2), total(grad2))


def focus_ratio(laplacian: int, gradient: int) -> float:
    """The focus score from its two exact sums: one float64 division, NaN for no gradient."""
    return math.nan if gradient == 0 else laplacian / gradient


def outer_contour(image: npt.NDArray[np.bool_], offset: tuple[int, int]) -> list[list[int]]:
    """The region's outer contour as [x, y] frame points, simplified as upstream's
    `metric` payload carries it (#940): the outer ring (holes ignored, so the filled
    object's), Teh-Chin chain approximation, then Douglas-Peucker with a tolerance of
    max(0.8, 0.004 * perimeter), then at most 60 points taken at a regular step."""
    contours, _ = cv2.findContours(
        image.view(np.uint8),
        cv2.RETR_EXTERNAL,
        cv2.CHAIN_APPROX_TC89_KCOS,
        offset=(offset[1], offset[0]),
    )
    if not contours:
        return []
    ring = max(contours, key=cv2.contourArea)
    ring = cv2.approxPolyDP(ring, max(0.8, 0.004 * cv2.arcLength(ring, True)), True)
    points = ring.reshape(-1, 2)
    if len(points) > 60:
        points = points[:: len(points) // 60][:60]
    return [[int(x), int(y)] for x, y in points]
