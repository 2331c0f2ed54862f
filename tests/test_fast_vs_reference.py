"""The fast per-frame path against the slow, literal float64 reference (SPEC section 2)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from segmenter import ops, reference
from segmenter.config import FEATURE_NAMES, Params
from segmenter.flat import median_into


def scene(rng: np.random.Generator, h: int = 240, w: int = 320, n: int = 9) -> np.ndarray:
    """Uneven background, noise, a static speck, dark blobs (some at the edges, some ringed)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 200 - 40 * ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (w * w / 4)
    frame = np.stack([base * 0.9, base * 0.75, base], axis=-1)
    frame += rng.normal(0, 2.5, frame.shape)
    frame[50:54, 60:64] *= 0.3  # dust: static, removed by the flat
    for _ in range(n):
        cy, cx = rng.integers(-5, h + 5), rng.integers(-5, w + 5)
        ry, rx = rng.integers(3, 18), rng.integers(3, 25)
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        ring = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 0.3
        frame[blob] *= rng.uniform(0.3, 0.7)
        if rng.random() < 0.4:
            frame[ring] /= 0.5
    out: np.ndarray = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def fast_flat(frames: list[np.ndarray]) -> np.ndarray:
    out = np.empty_like(frames[0])
    median_into(np.stack(frames), out)
    return out


def assert_same_objects(fast: ops.Segmentation, ref: list[reference.ReferenceObject]) -> None:
    assert len(fast.features) == len(ref)
    for feats, robj in zip(fast.features, ref, strict=True):
        assert list(feats) == list(FEATURE_NAMES)
        for name in FEATURE_NAMES:
            if name == "label":
                continue
            a, b = float(feats[name]), float(robj.features[name])
            if math.isnan(b):
                assert math.isnan(a), name
            else:
                assert a == pytest.approx(b, rel=1e-9, abs=1e-9), name


def test_flat_median_equals_numpy_median() -> None:
    rng = np.random.default_rng(1)
    frames = [scene(rng) for _ in range(9)]
    assert np.array_equal(fast_flat(frames), reference.reference_flat(frames).astype(np.uint8))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correction_is_bit_identical(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = [scene(rng) for _ in range(9)]
    flat = fast_flat(frames)
    flat[0, :5] = 0  # division by zero handled the same way
    frame = frames[3].copy()
    expected = reference.reference_correct(frame, flat.astype(np.float64))
    gray = np.empty(frame.shape[:2], np.uint8)
    ops.correct_inplace(frame, ops.flat_index(flat), ops.correction_lut(1.04), gray)
    assert np.array_equal(frame, expected)
    assert np.array_equal(gray, reference.reference_gray(expected))


@pytest.mark.parametrize("seed", [0, 3, 7])
@pytest.mark.parametrize("remove_previous", [False, True])
def test_frames_match_reference(seed: int, remove_previous: bool) -> None:
    rng = np.random.default_rng(seed)
    frames = [scene(rng, n=int(rng.integers(2, 12))) for _ in range(10)]
    params = Params(min_esd_um=3.0, remove_previous_mask=remove_previous)
    flat = fast_flat(frames[:9])
    flat_idx = ops.flat_index(flat)
    previous_raw = None
    total = 0
    for i, frame in enumerate(frames):
        corrected = reference.reference_correct(frame, flat.astype(np.float64))
        raw = reference.reference_threshold_mask(corrected)
        mask = reference.reference_mask(raw, previous_raw, params)
        ref = reference.reference_objects(corrected, mask, params, f"f{i}", 1)
        seg, fast_raw = ops.segment_frame(frame.copy(), flat_idx, params, previous_raw)
        assert np.array_equal(fast_raw, raw)
        assert_same_objects(seg, ref)
        for crop_bytes, robj in zip(seg.crops, ref, strict=True):
            assert crop_bytes == ops.encode_jpeg(robj.crop, params.jpeg_quality)
        previous_raw = raw
        total += len(ref)
    assert total > 10  # the scenes do produce objects to compare


def test_windowed_labels_equal_full_frame_on_dense_masks() -> None:
    """Many regions close together, touching edges: windows must not split or merge them."""
    rng = np.random.default_rng(5)
    mask = np.zeros((300, 400), np.uint8)
    for _ in range(60):
        y, x = rng.integers(0, 300), rng.integers(0, 400)
        cv2.circle(mask, (int(x), int(y)), int(rng.integers(1, 9)), 255, -1)
    params = Params(min_esd_um=2.0)
    regions = ops.find_regions(mask, params)
    cleaned = reference.reference_mask(mask, None, params)
    n, labels = cv2.connectedComponents(cleaned, connectivity=8)
    kept = [lab for lab in range(1, n) if (labels == lab).sum() >= params.min_area_px]
    assert len(regions) == len(kept)
    for region in regions:
        lab = labels[region.first_pixel]
        h, w = region.image.shape
        full = labels[region.top : region.top + h, region.left : region.left + w] == lab
        assert np.array_equal(full, region.image)
        assert (labels == lab).sum() == region.image.sum()


def test_convex_pixel_count_equals_skimage_area_convex() -> None:
    """The fast hull count against skimage on thousands of random regions: ellipses, lines
    (slopes through pixel centres), speckle, single pixels, touching the crop border."""
    from skimage.measure import label, regionprops

    from segmenter.features import convex_pixel_count

    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        mask = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 5))):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            kind = rng.integers(0, 3)
            if kind == 0:
                axes = (int(rng.integers(0, 25)), int(rng.integers(0, 25)))
                cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            elif kind == 1:
                end = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                cv2.line(mask, centre, end, 1, int(rng.integers(1, 3)))
            else:
                mask |= (rng.random(mask.shape) < 0.05).astype(np.uint8)
        for props in regionprops(label(mask, connectivity=2)):  # type: ignore[no-untyped-call]
            assert convex_pixel_count(props.image) == int(props.area_convex), props.bbox
            checked += 1
    assert checked > 3000
