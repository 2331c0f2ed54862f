"""Known answers for the per-frame kernel: correction, mask steps, regions, features, and
the flat field's windows and recalculation rule (SPEC section 2), each on a small input
whose result is worked out by hand."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from segmenter.engine.flat_rules import flat_window, next_average, should_recalculate
from streamer.contract import FEATURES, INTEGER_FEATURES, OLD
from worker.correct import correct_inplace, correction, median_into
from worker.features import esd_kept, focus_score, outer_contour, region_features
from worker.kernel import crop_box
from worker.mask import Region, find_regions, remove_previous_mask, threshold_mask
from worker.params import Params

ANY_SIZE = Params(min_esd_um=0)


def corrected_of(frame: np.ndarray, flat_value: int) -> tuple[np.ndarray, np.ndarray]:
    flat = np.full(frame.shape, flat_value, np.uint8)
    out, gray = frame.copy(), np.empty(frame.shape[:2], np.uint8)
    correct_inplace(out, flat, corr=correction(1.04), gray=gray)
    return out, gray


# --- flat field and correction ------------------------------------------------------------


def test_median_is_the_middle_and_the_upper_middle_for_an_even_count() -> None:
    values = (10, 200, 30, 5)
    stack = np.stack([np.full((2, 3, 3), v, np.uint8) for v in values])
    out = np.empty((2, 3, 3), np.uint8)
    median_into(stack[:3], out)
    assert (out == 30).all()  # median of 10, 200, 30
    median_into(stack, out)
    assert (out == 30).all()  # sorted 5, 10, 30, 200: the baseline takes element 4 // 2
    median_into(stack[:1], out)
    assert (out == 10).all()


def test_correction_known_values() -> None:
    frame = np.zeros((1, 7, 3), np.uint8)
    flat = np.full((1, 7, 3), 100, np.uint8)
    flat[0, 5:] = 0
    frame[0, 1] = 100  # equal to the flat: 1 / 1.04 * 255 = 245.19 -> 245
    frame[0, 2] = 200  # twice the flat: clipped to 1.04 -> 255
    frame[0, 3] = 0
    frame[0, 4] = 50  # 0.5 / 1.04 * 255 = 122.6 -> 122 (truncated)
    frame[0, 5] = 0  # 0 / 0 -> 0
    frame[0, 6] = 7  # 7 / 0 = inf -> clip -> 255
    frame[0, 0] = 100  # but (0, 0) is the baseline's black pixel
    out, gray = frame.copy(), np.empty((1, 7), np.uint8)
    correct_inplace(out, flat, corr=correction(1.04), gray=gray)
    assert out[0, :, 0].tolist() == [0, 245, 255, 0, 122, 0, 255]
    assert gray[0, 0] == 0 and gray[0, 1] == 245


def test_black_pixel_anchors_the_triangle_threshold() -> None:
    """On a faint frame (darkest pixel far from 0) the black pixel moves the threshold."""
    rng = np.random.default_rng(4)
    gray = np.clip(rng.normal(240, 3, (200, 200)), 0, 255).astype(np.uint8)
    gray[50:80, 50:80] = 200  # a faint organism
    without, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE)
    frame = np.dstack([gray] * 3)
    _, black = corrected_of(frame, 255)  # flat 255: values scale by 1/1.04, (0, 0) black
    assert black[0, 0] == 0
    with_pixel, _ = cv2.threshold(black, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE)
    plain, _ = corrected_of(frame, 255)
    plain_gray = cv2.cvtColor(plain, cv2.COLOR_BGR2GRAY)
    plain_gray[0, 0] = plain_gray[0, 1]  # the same frame without the black pixel
    no_pixel, _ = cv2.threshold(plain_gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE)
    assert with_pixel != no_pixel
    assert without > 0


# --- mask ---------------------------------------------------------------------------------


def test_threshold_mask_is_inverted() -> None:
    gray = np.full((40, 40), 245, np.uint8)
    gray[10:20, 10:20] = 60
    mask = threshold_mask(gray)
    assert set(np.unique(mask).tolist()) == {0, 255}
    assert mask.sum() == 100 * 255 and (mask[10:20, 10:20] == 255).all()


def test_remove_previous_mask() -> None:
    mask = np.zeros((10, 10), np.uint8)
    mask[2:8, 2:8] = 255
    previous = np.zeros_like(mask)
    previous[:, :5] = 255
    out = remove_previous_mask(mask, previous)
    assert not out[:, :5].any() and (out[2:8, 5:8] == 255).all()
    assert remove_previous_mask(mask, None) is mask  # first frame: nothing to remove


def test_speck_is_cleaned_away_and_a_big_square_kept() -> None:
    mask = np.zeros((80, 80), np.uint8)
    mask[10:50, 10:50] = 255
    mask[70, 70] = 255  # one pixel: the 2x2 erosion removes it
    (region,) = find_regions(mask, ANY_SIZE)
    assert region.image.sum() > 1000 and region.top < 15


def test_regions_in_raster_order_with_the_esd_filter() -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[120:160, 10:50] = 255  # first pixel later in raster order
    mask[20:60, 120:160] = 255  # first in raster order
    mask[100:104, 100:104] = 255  # small: removed by the ESD filter
    regions = find_regions(mask, Params(min_esd_um=20))
    assert [(r.top < 100, r.left > 100) for r in regions] == [(True, True), (False, False)]
    small = [r for r in find_regions(mask, ANY_SIZE) if 90 < r.top < 110]
    assert len(small) == 1  # without a threshold the 4x4 square is kept


def test_esd_filter_is_skimages_comparison() -> None:
    area = 314  # ESD 19.995 px: below 20; 315 gives 20.027
    assert not esd_kept(area, 20.0) and esd_kept(area + 1, 20.0)
    assert esd_kept(0, 0.0)


# --- features ---------------------------------------------------------------------------


def test_square_features() -> None:
    image = np.ones((9, 9), bool)
    color = np.empty((9, 9, 3), np.uint8)
    color[:] = (40, 60, 80)  # BGR
    gray = np.asarray(cv2.cvtColor(color, cv2.COLOR_BGR2GRAY), np.uint8)
    f = region_features(image, color, gray_crop=gray, offset=(5, 3))
    assert tuple(f) == (*FEATURES[OLD], "focus")  # SPEC 2.5's, then SPEC 7's raw score
    assert all(isinstance(f[name], int) for name in INTEGER_FEATURES.intersection(f))
    assert (f["width"], f["height"], f["bx"], f["by"]) == (9, 9, 3, 5)
    assert (f["area"], f["area_exc"], f["convex_area"], f["bounding_box_area"]) == (81,) * 4
    assert (f["%area"], f["extent"], f["solidity"], f["euler_number"]) == (0.0, 1.0, 1.0, 1)
    assert (f["y"], f["x"]) == (9.0, 7.0)  # frame coordinates
    assert (f["local_centroid_row"], f["local_centroid_col"]) == (4.0, 4.0)
    assert f["perim."] == 32.0  # skimage's 4-neighbourhood perimeter of a 9x9 square
    assert f["circ."] == pytest.approx(4 * math.pi * 81 / 32**2)
    assert f["circex"] == f["circ."]
    assert f["perimareaexc"] == pytest.approx(32 / 81)
    assert f["elongation"] == pytest.approx(1.0)
    assert f["equivalent_diameter"] == pytest.approx(math.sqrt(4 * 81 / math.pi))
    assert f["blur_laplacian"] == 0.0  # uniform crop
    # OpenCV 8-bit HSV of BGR (40, 60, 80): V = 80, S = 255 * 40 / 80, H = 30 / 2
    assert (f["MeanHue"], f["MeanSaturation"], f["MeanValue"]) == (15.0, 128.0, 80.0)
    assert (f["StdHue"], f["StdSaturation"], f["StdValue"]) == (0.0, 0.0, 0.0)


def test_ring_features_count_the_hole_in_the_filled_stats() -> None:
    mask = np.zeros((21, 21), np.uint8)
    cv2.circle(mask, (10, 10), 10, 1, -1)
    cv2.circle(mask, (10, 10), 4, 0, -1)
    color = np.full((21, 21, 3), 200, np.uint8)
    color[7:14, 7:14] = (0, 0, 255)  # the hole (red) counts in the filled HSV stats
    gray = np.asarray(cv2.cvtColor(color, cv2.COLOR_BGR2GRAY), np.uint8)
    f = region_features(mask.astype(bool), color, gray_crop=gray)
    assert f["euler_number"] == 0 and f["area_exc"] < f["area"]
    assert f["%area"] == pytest.approx(1 - f["area_exc"] / f["area"])
    assert f["MeanSaturation"] > 0 and f["blur_laplacian"] > 0


def test_single_pixel_ratios_are_nan() -> None:
    color = np.zeros((1, 1, 3), np.uint8)
    f = region_features(np.ones((1, 1), bool), color, gray_crop=color[:, :, 0])
    for name in ("circ.", "circex", "elongation", "perimmajor"):
        assert math.isnan(f[name]), name
    assert f["perimareaexc"] == 0.0


def test_crop_padding_clipped_at_edges() -> None:
    region = Region(12, 3, np.ones((4, 35), bool))
    assert crop_box(region, (30, 40, 3), 10) == (2, 26, 0, 40)


# --- flat window and recalculation --------------------------------------------------------


@pytest.mark.parametrize(
    ("j", "n", "expected"),
    [
        (0, 400, range(0, 9)),  # initial: the first 9
        (0, 5, range(0, 5)),  # fewer than 10: all of them
        (0, 4, range(0, 3)),  # ... made odd
        (0, 10, range(0, 9)),
        (100, 400, range(100, 109)),  # the first 9 of frames[j : j + 10]
        (389, 400, range(389, 398)),  # j = n - 11: still forward
        (390, 400, range(380, 389)),  # j > n - 11: the first 9 of frames[j - 10 : j]
        (5, 10, range(0, 9)),  # exactly 10 frames: all of them
        (16, 22, range(6, 15)),  # as in the recalc golden: frames[6 : 16], first 9
        (3, 8, range(1, 3)),  # 8 frames: frames[-7 : 3] is frames[1 : 3] (even: 2)
        (4, 12, range(0, 4)),  # frames[-6 : 4] is empty (the baseline crashes): frames[:4]
    ],
)
def test_flat_window(j: int, n: int, expected: range) -> None:
    assert flat_window(j, n, 9) == expected


def test_flat_window_rejects_a_frame_past_the_end() -> None:
    assert flat_window(0, 0, 9) == range(0)
    with pytest.raises(ValueError):
        flat_window(6, 5, 9)


def test_recalculation_rule_is_the_baselines() -> None:
    params = Params(recalculate_margin=20)
    assert not should_recalculate(500, 0.0, params)  # never after frame 0, nor after zeros
    assert not should_recalculate(24, 4.0, params)  # 24 is not > 4 + 20
    assert should_recalculate(25, 4.0, params)
    assert not should_recalculate(100, 4.0, Params(recalculate_flat=False))
    average = 0.0
    for i, count in enumerate([3, 5, 4]):
        average = next_average(average, count, i)
    assert average == 4.0


# --- SPEC 7's focus score and contour ----------------------------------------------------


def test_focus_score_is_978s_exactly_and_nan_without_gradient() -> None:
    """Against #978's float32 recipe (tests.benchmark.old_runs.focus_978) on random
    crops and masks: equal to the last bit; a flat crop has no gradient (an empty cell)."""
    from tests.benchmark.old_runs import focus_978

    rng = np.random.default_rng(5)
    for _ in range(40):
        h, w = rng.integers(1, 60, size=2)
        color = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        gray = np.asarray(cv2.cvtColor(color, cv2.COLOR_BGR2GRAY), np.uint8)
        filled = rng.random((h, w)) < 0.6
        expected = focus_978(color, filled)
        got = focus_score(gray, filled)
        assert (math.isnan(got) and expected is None) or got == expected
    flat = np.full((9, 7), 200, np.uint8)
    assert math.isnan(focus_score(flat, np.ones((9, 7), bool)))


def test_outer_contour_is_in_frame_coordinates() -> None:
    image = np.zeros((12, 20), bool)
    image[2:10, 3:18] = True
    image[5:7, 8:12] = False  # a hole: only the outer ring counts
    points = outer_contour(image, (100, 200))
    assert sorted(points) == [[203, 102], [203, 109], [217, 102], [217, 109]]
