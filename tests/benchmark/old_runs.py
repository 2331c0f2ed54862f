"""The old method (`benchmark.old_method`) on each baseline acquisition, run once per process
for the two tests that hold it to oracles: its objects and flat recalculations are the old
program's (tests/benchmark/test_old_method.py), and each object's frame threshold and #978
focus score, taken from its corrected frames and masks, are what the 2026-06 contract writes
(tests/golden/test_golden_2026_06.py). The two modules run on one pytest-xdist process
(tests/conftest.py, SAME_PROCESS), so each acquisition is segmented by the old method once."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.measure

from benchmark import old_method
from tests.conftest import require
from tests.golden.test_golden import BASELINE
from worker.decode import read_frame


def frames_of(folder: Path) -> list[tuple[str, np.ndarray]]:
    return [(p.stem, read_frame(p)) for p in sorted(folder.glob("*.jpg"))]


def focus_978(crop: np.ndarray, filled: np.ndarray) -> float | None:
    """#978's description: gray float32, Laplacian and Sobel (ksize 3) in CV_32F, the
    filled mask dilated by a 3x3 square, sum(L^2) / sum(gx^2 + gy^2) over it, None when
    the gradient sum is <= 1e-6 (the sums in float64 here, of float32 values)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=3)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    band = cv2.dilate(filled.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    energy = float(np.sum((gx * gx + gy * gy)[band], dtype=np.float64))
    if energy <= 1e-6:
        return None
    return float(np.sum((lap * lap)[band], dtype=np.float64)) / energy


@dataclass(frozen=True)
class OldRun:
    objects: list[old_method.OldObject]  # in the order it numbers them
    flats: list[int]  # the frames it computed a flat at (0, then each recalculation)
    # object_id -> (its frame's triangle threshold, its #978 focus score)
    threshold_and_focus: dict[str, tuple[float, float | None]]


@functools.cache
def old_run(case: str) -> OldRun:
    """The old method on baseline acquisition `case`, with the settings its run used."""
    require(BASELINE / case)
    folder = next((BASELINE / case / "img").glob("**/metadata.json")).parent
    run = json.loads((BASELINE / case / "baseline" / "run.json").read_text())["settings"]
    min_esd_px = run["process_min_ESD_pixels"]
    flats: list[int] = []
    scores: dict[str, tuple[float, float | None]] = {}

    def on_image(stem: str, image: np.ndarray, mask: np.ndarray) -> None:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        value, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE)
        labels = skimage.measure.label(mask)  # type: ignore[no-untyped-call]
        regions = skimage.measure.regionprops(labels)  # type: ignore[no-untyped-call]
        kept = [r for r in regions if r.equivalent_diameter_area >= min_esd_px]
        for i, region in enumerate(kept):
            focus = focus_978(image[region.slice], region.image_filled)
            scores[f"{stem}_{i}"] = (float(value), focus)

    found = old_method.segment(
        frames_of(folder),
        min_esd_px,
        remove_previous_mask=run["remove_previous_mask"],
        on_flat=flats.append,
        on_image=on_image,
    )
    return OldRun([o for frame in found for o in frame], flats, scores)
