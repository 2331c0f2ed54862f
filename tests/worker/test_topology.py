"""worker.topology and the windows' foreground blocks against what they replace: skimage's
`image_filled`, `area_filled`, `euler_number`, `perimeter` (its histogram exactly as
skimage's steps make it; the float within 1e-12 of skimage's, whose final BLAS dot
rounds by the CPU), and a plain per-block `any`, on random regions (rings, lines, speckle,
crop edges) and on every region of a real PlanktoScope frame and of a baseline frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import label, regionprops

from tests.conftest import REAL_FRAME, SHARED, require, same_value
from tests.worker.scenes import random_mask
from worker.mask import TILE, threshold_mask, tile_any
from worker.topology import perimeter, perimeter_histogram, topology

DENSE_FRAMES = SHARED / "baseline" / "dense" / "img"


def skimage_perimeter_histogram(image: np.ndarray) -> np.ndarray:
    """skimage.measure.perimeter(image, 4)'s steps up to its final dot product."""
    binary = image.astype(np.uint8)
    border = binary - ndi.binary_erosion(
        binary, ndi.generate_binary_structure(2, 1), border_value=0
    )
    kernel = np.array([[10, 2, 10], [2, 1, 2], [10, 2, 10]])
    codes = ndi.convolve(border, kernel, mode="constant", cval=0)
    return np.bincount(codes.ravel(), minlength=50)


def assert_as_skimage(mask: np.ndarray) -> int:
    """Every region of `mask` (8-connected): our values equal skimage's; the count."""
    checked = 0
    for region in regionprops(label(mask, connectivity=2)):  # type: ignore[no-untyped-call]
        props = regionprops(region.image.astype(np.uint8))[0]  # type: ignore[no-untyped-call]
        topo = topology(region.image)
        assert np.array_equal(topo.filled, props.image_filled), region.bbox
        assert topo.area_filled == int(props.area_filled), region.bbox
        assert topo.euler_number == int(props.euler_number), region.bbox
        hist = perimeter_histogram(np.pad(region.image.view(np.uint8), 1))
        assert np.array_equal(hist, skimage_perimeter_histogram(region.image)), region.bbox
        assert same_value(topo.perimeter, float(props.perimeter), loose=True), region.bbox
        assert perimeter(region.image).hex() == topo.perimeter.hex()
        checked += 1
    return checked


def test_topology_equals_skimage_on_random_regions() -> None:
    rng = np.random.default_rng(3)
    checked = sum(assert_as_skimage(random_mask(rng)) for _ in range(150))
    assert checked > 5000


@pytest.mark.parametrize("source", ["real", "dense"])
def test_topology_equals_skimage_on_real_masks(source: str) -> None:
    """Every thresholded region of the frame, small and large, holes included."""
    if source == "real":
        require(REAL_FRAME)
        path = REAL_FRAME
    else:
        require(DENSE_FRAMES)
        path = sorted(DENSE_FRAMES.rglob("*.jpg"))[0]
    frame = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    mask = threshold_mask(np.asarray(frame, np.uint8))
    assert assert_as_skimage(mask > 0) > 50


def test_tile_any_says_which_blocks_hold_foreground() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 400, 2))
        mask = ((rng.random((h, w)) < rng.uniform(0, 0.01)) * rng.integers(1, 256)).astype(np.uint8)
        out = tile_any(mask)
        rows, cols = -(-h // TILE), -(-w // TILE)
        expected = [
            [
                bool(mask[i * TILE : (i + 1) * TILE, j * TILE : (j + 1) * TILE].any())
                for j in range(cols)
            ]
            for i in range(rows)
        ]
        assert out.tolist() == expected
