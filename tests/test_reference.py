"""Known answers for the literal float64 baseline (segmenter.reference)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from segmenter import reference
from segmenter.config import FEATURE_NAMES, INTEGER_FEATURES, Params
from segmenter.flat import flat_window, should_recalculate
from segmenter.reference import (
    reference_correct,
    reference_crop,
    reference_flat,
    reference_mask,
    reference_objects,
    reference_segment,
    reference_threshold_mask,
)

ANY_SIZE = Params(min_esd_um=0)


def gray3(mask: np.ndarray) -> np.ndarray:
    return np.dstack([mask, mask, mask]).astype(np.uint8)


# --- flat field and correction ------------------------------------------------------------


def test_flat_is_per_pixel_per_channel_median_as_float64() -> None:
    frames = [np.full((2, 3, 3), v, np.uint8) for v in (10, 200, 30)]
    frames[1][0, 0, 2] = 5
    flat = reference_flat(frames)
    assert flat.dtype == np.float64
    assert flat[1, 1, 1] == 30.0
    assert flat[0, 0, 2] == 10.0  # median of (10, 5, 30)


def test_correct_known_values() -> None:
    flat = np.full((1, 6, 3), 100.0)
    flat[0, 4:] = 0.0
    frame = np.zeros((1, 6, 3), np.uint8)
    frame[0, 0] = 100  # equal to the flat: 1 / 1.04 * 255 = 245.19 -> 245
    frame[0, 1] = 200  # twice the flat: clipped to 1.04 -> 255
    frame[0, 2] = 0  # zero -> 0
    frame[0, 3] = 50  # 0.5 / 1.04 * 255 = 122.6 -> 122 (truncated)
    frame[0, 4] = 0  # 0 / 0 -> 0
    frame[0, 5] = 7  # 7 / 0 = inf -> clip_max -> 255
    out = reference_correct(frame, flat)
    assert out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [245, 255, 0, 122, 0, 255]


# --- mask ---------------------------------------------------------------------------------


def test_threshold_mask_is_inverted() -> None:
    corrected = np.full((40, 40, 3), 245, np.uint8)
    corrected[10:20, 10:20] = 60
    mask = reference_threshold_mask(corrected)
    assert mask.dtype == np.uint8
    assert set(np.unique(mask).tolist()) == {0, 255}
    assert (mask[10:20, 10:20] == 255).all()
    assert mask.sum() == 100 * 255


def test_mask_morphology_keeps_a_big_square_and_drops_a_speck() -> None:
    mask = np.zeros((60, 60), np.uint8)
    mask[10:40, 10:40] = 255
    mask[50, 50] = 255  # one pixel: the 2x2 erosion removes it
    out = reference_mask(mask, None, ANY_SIZE)
    assert out[50, 50] == 0
    assert (out[15:35, 15:35] == 255).all()


def test_remove_previous_mask_removes_previous_pixels() -> None:
    mask = np.zeros((60, 60), np.uint8)
    mask[10:40, 10:50] = 255
    previous = np.zeros_like(mask)
    previous[:, :30] = 255  # covers the left part of the object
    on = Params(min_esd_um=0, remove_previous_mask=True)
    removed = reference_mask(mask, previous, on)
    assert not removed[:, :28].any()
    assert removed[20:30, 35:45].all()
    kept = reference_mask(mask, previous, ANY_SIZE)  # option off: previous ignored
    np.testing.assert_array_equal(kept, reference_mask(mask, None, ANY_SIZE))
    np.testing.assert_array_equal(reference_mask(mask, None, on), kept)  # first frame


# --- regions and features -----------------------------------------------------------------


def test_square_features() -> None:
    mask = np.zeros((20, 20), np.uint8)
    mask[5:14, 3:12] = 255  # 9x9 square
    corrected = np.full((20, 20, 3), 245, np.uint8)
    corrected[mask > 0] = (40, 60, 80)  # BGR
    (obj,) = reference_objects(corrected, mask, ANY_SIZE, "frame", 7)
    f = obj.features
    assert obj.object_id == "frame_0"
    assert tuple(f) == FEATURE_NAMES
    assert all(isinstance(f[name], int) for name in INTEGER_FEATURES)
    assert (f["label"], f["width"], f["height"], f["bx"], f["by"]) == (7, 9, 9, 3, 5)
    assert (f["area"], f["area_exc"], f["convex_area"], f["bounding_box_area"]) == (81,) * 4
    assert f["%area"] == 0.0
    assert f["extent"] == 1.0
    assert f["solidity"] == 1.0
    assert f["euler_number"] == 1
    assert (f["y"], f["x"]) == (9.0, 7.0)
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
    assert obj.crop.shape == (20, 20, 3)  # padded by 10, clipped at the frame edges


def test_ring_features() -> None:
    mask = np.zeros((30, 30), np.uint8)
    cv2.circle(mask, (15, 15), 10, 255, -1)
    cv2.circle(mask, (15, 15), 4, 0, -1)
    corrected = gray3(255 - mask)
    corrected[12:19, 12:19] = (0, 0, 255)  # the hole (red) counts in the filled HSV stats
    (obj,) = reference_objects(corrected, mask, ANY_SIZE, "f", 1)
    f = obj.features
    assert f["euler_number"] == 0
    assert f["area_exc"] < f["area"]
    assert f["%area"] == pytest.approx(1 - f["area_exc"] / f["area"])
    assert f["%area"] > 0
    assert f["MeanSaturation"] > 0
    assert f["blur_laplacian"] > 0


def test_single_pixel_ratios_are_nan() -> None:
    mask = np.zeros((5, 5), np.uint8)
    mask[2, 2] = 255
    (obj,) = reference_objects(gray3(mask), mask, ANY_SIZE, "f", 1)
    f = obj.features
    for name in ("circ.", "circex", "elongation", "perimmajor"):
        assert math.isnan(f[name]), name
    assert f["perimareaexc"] == 0.0


def test_regions_order_size_filter_and_ids() -> None:
    mask = np.zeros((50, 50), np.uint8)
    mask[30:40, 2:12] = 255  # 100 px, first pixel later in raster order
    mask[5:15, 30:40] = 255  # 100 px, first in raster order
    mask[3:5, 3:5] = 255  # 4 px, dropped
    mask[20, 20] = mask[21, 21] = 255  # diagonal neighbours: one region (8-connected)
    corrected = gray3(255 - mask)
    params = Params(min_esd_um=2 * math.sqrt(100 / math.pi))  # min area exactly 100
    objs = reference_objects(corrected, mask, params, "s", 3)
    assert [(o.object_id, o.features["label"], o.features["bx"]) for o in objs] == [
        ("s_0", 3, 30),
        ("s_1", 4, 2),
    ]
    everything = reference_objects(corrected, mask, ANY_SIZE, "s", 1)
    assert [o.features["area"] for o in everything] == [4, 100, 2, 100]


def test_crop_padding_clipped_at_edges() -> None:
    image = np.arange(30 * 40 * 3, dtype=np.uint8).reshape(30, 40, 3)
    crop = reference_crop(image, (12, 3, 16, 38), 10)
    np.testing.assert_array_equal(crop, image[2:26, 0:40])


# --- flat window and recalculation --------------------------------------------------------


def test_flat_window() -> None:
    assert flat_window(0, 400, 9) == range(0, 9)  # initial
    assert flat_window(100, 400, 9) == range(100, 109)  # middle: the next 9
    assert flat_window(391, 400, 9) == range(391, 400)  # exactly 9 remain
    assert flat_window(392, 400, 9) == range(383, 392)  # end: the 9 before
    assert flat_window(0, 5, 9) == range(0, 5)  # few frames: all
    assert flat_window(0, 4, 9) == range(0, 3)  # made odd
    assert flat_window(3, 5, 9) == range(0, 3)  # clamped at 0, odd
    assert flat_window(4, 5, 9) == range(0, 3)  # clamped at 0, made odd
    assert flat_window(1, 5, 9) == range(0, 1)
    assert flat_window(0, 0, 9) == range(0, 0)
    with pytest.raises(ValueError):
        flat_window(6, 5, 9)


def test_should_recalculate_boundary() -> None:
    params = Params(recalculate_margin=20)
    assert not should_recalculate(20, [], params)  # 20 > 0 + 20 is false
    assert should_recalculate(21, [], params)
    assert not should_recalculate(24, [3, 5], params)  # average 4: 24 is not > 24
    assert should_recalculate(25, [3, 5], params)
    assert should_recalculate(25, [3, 4], params)  # average 3.5
    assert not should_recalculate(100, [], Params(recalculate_flat=False))


# --- whole acquisition --------------------------------------------------------------------


def synthetic_acquisition(n: int = 12) -> list[tuple[str, np.ndarray]]:
    """Uneven bright background, a static dark speck, two dark discs moving 10 px/frame."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:120, 0:160]
    background = 170 + 40 * cols / 160 + 20 * rows / 120
    frames = []
    for t in range(n):
        bgr = np.dstack([0.9 * background, background, 0.95 * background])
        frame = np.clip(bgr + rng.normal(0, 2, bgr.shape), 0, 255).astype(np.uint8)
        cv2.circle(frame, (80, 95), 10, (60, 60, 60), -1)  # static: in the flat
        cv2.circle(frame, (20 + 10 * t, 30), 9, (50, 70, 60), -1)
        cv2.circle(frame, (140 - 10 * t, 60), 8, (40, 40, 90), -1)
        frames.append((f"2026-01-01_00-00-{t:02d}-000000", frame))
    return frames


def test_segment_finds_moving_discs_not_the_static_speck() -> None:
    frames = synthetic_acquisition()
    results = reference_segment(frames, Params(min_esd_um=8))
    assert len(results) == len(frames)
    label = 0
    for t, ((stem, _), objs) in enumerate(zip(frames, results, strict=True)):
        assert [o.object_id for o in objs] == [f"{stem}_0", f"{stem}_1"]
        centres = [(round(o.features["x"]), round(o.features["y"])) for o in objs]
        assert centres[0] == pytest.approx((20 + 10 * t, 30), abs=2)
        assert centres[1] == pytest.approx((140 - 10 * t, 60), abs=2)
        assert [o.features["label"] for o in objs] == [label + 1, label + 2]
        label += 2


def test_segment_remove_previous_mask_shrinks_overlapping_objects() -> None:
    frames = synthetic_acquisition()
    plain = reference_segment(frames, Params(min_esd_um=0))
    removed = reference_segment(frames, Params(min_esd_um=0, remove_previous_mask=True))
    assert [o.features for o in removed[0]] == [o.features for o in plain[0]]
    first_disc = [o for o in removed[5] if abs(o.features["y"] - 30) < 10]
    assert first_disc
    assert sum(o.features["area_exc"] for o in first_disc) < plain[5][0].features["area_exc"]


def test_segment_recalculates_flat_from_the_next_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = synthetic_acquisition()
    images = [image for _, image in frames]
    windows: list[list[int]] = []

    def recording_flat(chosen: Sequence[np.ndarray]) -> np.ndarray:
        windows.append([next(j for j, im in enumerate(images) if im is c) for c in chosen])
        return reference_flat(chosen)

    monkeypatch.setattr(reference, "reference_flat", recording_flat)
    # 2 objects per frame: frame 0 has 2 > 0 + 1, later frames 2 > 2 + 1 never
    reference_segment(frames, Params(min_esd_um=8, recalculate_margin=1))
    assert windows == [list(range(0, 9)), list(range(1, 10))]
    windows.clear()
    reference_segment(frames, Params(min_esd_um=8, recalculate_flat=False))
    assert windows == [list(range(0, 9))]


def test_segment_requires_name_order() -> None:
    frames = synthetic_acquisition(3)
    with pytest.raises(ValueError):
        reference_segment(frames[::-1], ANY_SIZE)
    assert reference_segment([], ANY_SIZE) == []
