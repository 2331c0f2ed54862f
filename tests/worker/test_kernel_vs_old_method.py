"""The fast kernel against the old program's method (`benchmark.old_method`, transcribed from
its code and held to its own outputs by tests/benchmark/test_old_method.py) on inputs the baseline's
acquisitions do not cover: random scenes with objects on the frame edges, rings, division
by zero, dense masks. Everything must be equal: masks, features, crop pixels."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from benchmark import old_method
from tests.conftest import CPU_ROUNDED, same_value
from tests.worker.scenes import fast_flat, scene
from worker.correct import correct_inplace, correction
from worker.features import convex_pixel_count, esd_kept
from worker.kernel import Segmentation, segment_frame
from worker.mask import Region, find_regions, first_erode, grow_and_close
from worker.params import Params


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))


def assert_same_objects(fast: Segmentation, old: list[old_method.OldObject]) -> None:
    """Same objects, every feature equal (NaN where the old program has inf or NaN),
    crops of the same pixels once encoded."""
    assert len(fast.features) == len(old)
    for feats, crop, obj in zip(fast.features, fast.crops, old, strict=True):
        assert list(feats) == [*obj.features, "focus", "bw", "bh", "threshold"]  # + SPEC 7's raw
        for name, expected in obj.features.items():
            if name == "label":
                continue
            loose = name in CPU_ROUNDED  # the old method's: skimage's BLAS, LAPACK, libm
            assert same_value(float(feats[name]), float(expected), loose), name
        assert np.array_equal(decoded(crop), decoded(old_method.encode_crop(obj.crop)))


@pytest.mark.parametrize("count", [9, 4, 1])
def test_flat_equals_the_old_sort(count: int) -> None:
    rng = np.random.default_rng(count)
    frames = [scene(rng) for _ in range(count)]
    assert np.array_equal(fast_flat(frames), old_method.manual_median(frames, len(frames) + 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correction_is_bit_identical(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = [scene(rng) for _ in range(9)]
    flat = fast_flat(frames)
    flat[1, :5] = 0  # division by zero handled the same way
    frame = frames[3].copy()
    expected = old_method.correct(frame, flat)
    gray = np.empty(frame.shape[:2], np.uint8)
    correct_inplace(frame, flat, corr=correction(1.04), gray=gray)
    assert np.array_equal(frame, expected)
    assert np.array_equal(gray, cv2.cvtColor(expected, cv2.COLOR_BGR2GRAY))


@pytest.mark.parametrize("seed", [0, 3, 7])
@pytest.mark.parametrize("remove_previous", [False, True])
def test_frames_match_the_old_method(seed: int, remove_previous: bool) -> None:
    rng = np.random.default_rng(seed)
    frames = [scene(rng, n=int(rng.integers(2, 12))) for _ in range(10)]
    params = Params(min_esd_um=3.0, remove_previous_mask=remove_previous)
    flat = fast_flat(frames[:9])
    previous_raw = None
    total = 0
    for i, frame in enumerate(frames):
        corrected = old_method.correct(frame, flat)
        raw = old_method.threshold(corrected)
        mask = old_method.clean(raw, previous_raw if remove_previous else None)
        old = old_method.objects(
            corrected, mask, min_esd_px=params.min_esd_px, stem=f"f{i}", start=0
        )
        seg, fast_raw = segment_frame(frame.copy(), flat, params=params, previous=previous_raw)
        assert np.array_equal(fast_raw, raw)
        assert_same_objects(seg, old)
        previous_raw = raw
        total += len(old)
    assert total > 10  # the scenes do produce objects to compare


@pytest.mark.parametrize("shape", [(48, 64), (64, 48), (30, 30)])
def test_a_frame_smaller_than_a_mask_tile_gives_the_old_methods_objects(
    shape: tuple[int, int],
) -> None:
    """Frames narrower or lower than the mask's tiles (72 px by default): one tile."""
    h, w = shape
    rng = np.random.default_rng(h * w)
    frames = [scene(rng, h, w, n=3) for _ in range(3)]
    flat = fast_flat(frames)
    params = Params(min_esd_um=0.5)
    total = 0
    for frame in frames:
        corrected = old_method.correct(frame, flat)
        raw = old_method.threshold(corrected)
        old = old_method.objects(
            corrected, old_method.clean(raw, None), min_esd_px=params.min_esd_px, stem="f", start=0
        )
        seg, fast_raw = segment_frame(frame.copy(), flat, params=params)
        assert np.array_equal(fast_raw, raw)
        assert_same_objects(seg, old)
        total += len(old)
    assert total >= 3  # objects to compare on every such frame size


def assert_regions_are_components(regions: list[Region], labels: np.ndarray) -> None:
    """Each region is the full-frame component under its first pixel, whole."""
    areas = np.bincount(labels.ravel())
    for region in regions:
        lab = labels[region.first_pixel]
        h, w = region.image.shape
        full = labels[region.top : region.top + h, region.left : region.left + w] == lab
        assert np.array_equal(full, region.image)
        assert areas[lab] == region.image.sum()


def test_windowed_labels_equal_full_frame_on_dense_masks() -> None:
    """Many regions close together, touching edges: windows must not split or merge them."""
    rng = np.random.default_rng(5)
    mask = np.zeros((300, 400), np.uint8)
    for _ in range(60):
        y, x = rng.integers(0, 300), rng.integers(0, 400)
        cv2.circle(mask, (int(x), int(y)), int(rng.integers(1, 9)), 255, -1)
    params = Params(min_esd_um=2.0)
    regions = find_regions(mask, params)
    cleaned = old_method.clean(mask, None)
    n, labels = cv2.connectedComponents(cleaned, connectivity=8)
    kept = [
        lab
        for lab in range(1, n)
        if math.sqrt(4 * (labels == lab).sum() / math.pi) >= params.min_esd_px
    ]
    assert len(regions) == len(kept) > 20
    assert_regions_are_components(regions, labels)


def test_convex_pixel_count_equals_skimage_area_convex() -> None:
    """The fast hull count against skimage on thousands of random regions: ellipses, lines
    (slopes through pixel centres), speckle, single pixels, touching the crop border."""
    from skimage.measure import label, regionprops

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


@pytest.mark.parametrize("sizes", [(2, 8, 8, 8), (3, 5, 9, 7), (1, 12, 3, 16), (4, 1, 1, 1)])
def test_windows_cut_to_the_foreground_equal_full_frame_morphology(
    sizes: tuple[int, int, int, int],
) -> None:
    """Clusters, long chains and lone specks on a large frame, odd and even kernel sizes:
    the regions found in windows cut to the foreground plus twice the steps' radius are
    those of the mask steps run on the whole frame."""
    erode, dilate, close, erode2 = sizes
    params = Params(
        erode_size=erode, dilate_size=dilate, close_size=close, erode2_size=erode2, min_esd_um=3
    )
    rng = np.random.default_rng(sum(sizes))
    mask = np.zeros((1201, 1603), np.uint8)
    for _ in range(25):  # clusters of blobs a few pixels apart
        cy, cx = int(rng.integers(-20, 1221)), int(rng.integers(-20, 1623))
        for _ in range(int(rng.integers(1, 8))):
            dy, dx = (int(v) for v in rng.integers(-60, 60, 2))
            radius = int(rng.integers(2, 20))
            cv2.circle(mask, (cx + dx, cy + dy), radius, 255, -1)
    for _ in range(6):  # chains that cross many tiles
        p0 = (int(rng.integers(0, 1603)), int(rng.integers(0, 1201)))
        p1 = (int(rng.integers(0, 1603)), int(rng.integers(0, 1201)))
        cv2.line(mask, p0, p1, 255, int(rng.integers(2, 6)))
    mask |= ((rng.random(mask.shape) < 0.0005) * 255).astype(np.uint8)
    regions = find_regions(mask, params)
    cleaned = grow_and_close(first_erode(mask, params), params)
    n, labels = cv2.connectedComponents(cleaned, connectivity=8)
    areas = np.bincount(labels.ravel(), minlength=n)
    kept = [lab for lab in range(1, n) if esd_kept(int(areas[lab]), params.min_esd_px)]
    assert len(regions) == len(kept) > 10
    assert_regions_are_components(regions, labels)
