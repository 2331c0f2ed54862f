"""`worker.features.region_features` against skimage's regionprops read through the old
program's own formulas (`benchmark.old_method`): every feature of every region equal (the
perimeter's, summed in a fixed order, within 1e-12 of skimage's CPU-dependent BLAS
dot), on random regions (rings, lines, speckle, crop edges) over random colours and on
the thresholded regions of a real PlanktoScope frame. The features are computed without
regionprops, from exact integer sums and skimage's own moment functions."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.measure import label, regionprops

from benchmark import old_method
from tests.conftest import CPU_ROUNDED, REAL_FRAME, require, same_value
from tests.worker.scenes import random_mask
from worker.features import region_features
from worker.mask import threshold_mask


def assert_regions_match(mask: np.ndarray, color: np.ndarray, min_area: int = 1) -> int:
    """Every 8-connected region of `mask` of `min_area` pixels or more: the engine's
    features equal the old ones."""
    gray = np.asarray(cv2.cvtColor(color, cv2.COLOR_BGR2GRAY), np.uint8)
    checked = 0
    for props in regionprops(label(mask, connectivity=2)):  # type: ignore[no-untyped-call]
        if props.area < min_area:
            continue
        r0, c0, r1, c1 = props.bbox
        box = (slice(r0, r1), slice(c0, c1))
        ours = region_features(props.image, color[box], gray_crop=gray[box], offset=(r0, c0))
        old = {k: old_method._plain(v) for k, v in old_method._shape(props).items()}
        old["blur_laplacian"] = float(cv2.Laplacian(gray[box], cv2.CV_64F).var())
        old.update(old_method._colors(color[box], props.image_filled))
        assert list(ours) == [*old, "focus"]  # then SPEC 7's focus score
        for name, value in old.items():
            if name != "label":
                loose = name in CPU_ROUNDED  # skimage's BLAS, LAPACK, libm: the CPU's rounding
                assert same_value(float(ours[name]), float(value), loose), (name, props.bbox)
        checked += 1
    return checked


def test_features_equal_skimage_on_random_regions() -> None:
    rng = np.random.default_rng(17)
    checked = 0
    for _ in range(25):
        mask = random_mask(rng)
        color = rng.integers(0, 256, (*mask.shape, 3), dtype=np.uint8)
        checked += assert_regions_match(mask > 0, color)
    assert checked > 700


def test_features_equal_skimage_on_a_real_frame() -> None:
    require(REAL_FRAME)
    color = np.asarray(cv2.imread(str(REAL_FRAME), cv2.IMREAD_COLOR), np.uint8)
    mask = threshold_mask(np.asarray(cv2.cvtColor(color, cv2.COLOR_BGR2GRAY), np.uint8))
    assert assert_regions_match(mask > 0, color, min_area=20) > 50
