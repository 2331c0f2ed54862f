"""Golden tests of the default output contract, 2026-06 (SPEC section 7), on the
baseline's acquisitions: the same objects as the old program's (3bef3dd) outputs, every
converted column the baseline's value times `px` (or `px*px`, or `1/px`) in float64 as
upstream computes it, `bw`/`bh` the box, `threshold` the frame's triangle threshold and
the focus score #978's, both from the old method's own corrected frames and masks
(`benchmark.old_method`) with an implementation of #978 written here from its description.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.measure

from benchmark import old_method
from streamer import contract, ecotaxa
from tests.benchmark.test_old_method import frames_of
from tests.golden.test_golden import BASELINE, CASES, Golden, _equal, read_tsv, segment_case

PX = 0.75  # process_pixel of every baseline acquisition
LOOSE = {"object_major", "object_minor"}  # exact moments against the baseline's BLAS ones


@pytest.fixture(scope="module", params=CASES)
def golden(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Golden:
    root = tmp_path_factory.mktemp(f"{request.param}_new") / "data"
    return segment_case(request.param, root, 2, contract.NEW)


def _rows(g: Golden) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    (tsv,) = g.baseline.glob("ecotaxa_*.tsv")
    return read_tsv(tsv)[2], read_tsv(g.tsv)[2]


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


def oracle(case: str) -> dict[str, tuple[float, float | None]]:
    """object_id -> (its frame's triangle threshold, its #978 focus score), from the old
    method's corrected frames and masks."""
    folder = next((BASELINE / case / "img").glob("**/metadata.json")).parent
    out: dict[str, tuple[float, float | None]] = {}

    def on_image(stem: str, image: np.ndarray, mask: np.ndarray) -> None:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        value, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE)
        labels = skimage.measure.label(mask)  # type: ignore[no-untyped-call]
        regions = skimage.measure.regionprops(labels)  # type: ignore[no-untyped-call]
        kept = [r for r in regions if r.equivalent_diameter_area >= 20]
        for i, region in enumerate(kept):
            score = focus_978(image[region.slice], region.image_filled)
            out[f"{stem}_{i}"] = (float(value), score)

    remove_previous = case == "prevmask"
    old_method.segment(
        frames_of(folder), 20, remove_previous_mask=remove_previous, on_image=on_image
    )
    return out


def test_same_objects_and_bw_bh_are_the_box(golden: Golden) -> None:
    theirs, ours = _rows(golden)
    assert len(ours) == len(theirs) > 50
    for mine, base in zip(ours, theirs, strict=True):
        assert mine["object_id"] == base["object_id"]
        for name in ("object_label", "object_bx", "object_by"):
            assert mine[name] == base[name], (mine["object_id"], name)
        assert int(mine["object_bw"]) == int(base["object_width"])
        assert int(mine["object_bh"]) == int(base["object_height"])


def test_converted_columns_are_the_baselines_times_px(golden: Golden) -> None:
    """width, height, major, minor, perim., equivalent_diameter x px; areas x (px*px);
    perimareaexc x (1/px): upstream's float64 arithmetic on the baseline's values."""
    theirs, ours = _rows(golden)
    factors = {name: PX for name in contract.LINEAR}
    factors |= {name: PX * PX for name in contract.SQUARE}
    factors |= {name: 1.0 / PX for name in contract.INVERSE}
    different = []
    for mine, base in zip(ours, theirs, strict=True):
        for name, factor in factors.items():
            column = f"object_{name}"
            expected = float(base[column]) * factor
            got = float(mine[column])
            same = (
                _equal(column, mine[column], repr(expected)) if column in LOOSE else got == expected
            )
            if not same:
                different.append((mine["object_id"], column, got, expected))
    assert different == []


def test_other_columns_are_the_baselines(golden: Golden) -> None:
    theirs, ours = _rows(golden)
    converted = {*contract.LINEAR, *contract.SQUARE, *contract.INVERSE, "blur_laplacian"}
    same = [n for n in contract.FEATURES[contract.OLD] if n not in converted]
    assert len(same) >= 20
    different = [
        (mine["object_id"], name)
        for mine, base in zip(ours, theirs, strict=True)
        for name in same
        if not _equal(f"object_{name}", mine[f"object_{name}"], base[f"object_{name}"])
    ]
    assert different == []


def test_threshold_and_focus_score_are_the_frames_and_978s(golden: Golden) -> None:
    expected = oracle(golden.case)
    _, ours = _rows(golden)
    assert len(expected) == len(ours)
    scored = 0
    for row in ours:
        threshold, focus = expected[row["object_id"]]
        assert float(row["object_threshold"]) == threshold, row["object_id"]
        if focus is None:
            assert row["object_blur_laplacian"] == "", row["object_id"]
        else:
            assert float(row["object_blur_laplacian"]) == focus, row["object_id"]
            scored += 1
    assert scored > 50


def test_header_names_and_ids(golden: Golden) -> None:
    """SPEC 7's columns and names, and EcoTaxa's header rules."""
    names, types, rows = ecotaxa.read_tsv(golden.tsv)
    ecotaxa.validate_header(names, types)
    columns = contract.column_names(contract.NEW)  # in order, then object_id (SPEC 7)
    start = names.index("object_label")
    assert (*names[start : start + len(columns) + 1],) == (*columns, "object_id")
    first = rows[0]
    assert first["process_compat"] == "2026-06"
    assert first["process_pixel_applied"] == "True"
    metadata = read_tsv(next(golden.baseline.glob("ecotaxa_*.tsv")))[2][0]
    both = contract.combined_id(metadata["sample_id"], metadata["acq_id"])
    assert first["sample_id"] == first["acq_id"] == both
    assert golden.tsv.name == f"ecotaxa_{both}.tsv"
    assert Path(golden.archive).name == f"ecotaxa_{both}.zip"
    with zipfile.ZipFile(golden.archive) as zf:
        assert golden.tsv.name in zf.namelist()
    assert all(len(cell) <= ecotaxa.MAX_TEXT for row in rows for cell in row.values())
    cells = [row[name] for row in rows for name in columns]
    assert not any(math.isinf(float(cell)) for cell in cells if cell)  # EcoTaxa rejects -inf
