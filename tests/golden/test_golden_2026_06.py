"""Golden tests of the default output contract, 2026-06 (SPEC section 7), on the
baseline's acquisitions: the same objects as the old program's (3bef3dd) outputs, every
converted column the baseline's value times `px` (or `px*px`, or `1/px`) in float64 as
upstream computes it, `bw`/`bh` the box, `threshold` the frame's triangle threshold and
the focus score #978's, both from the old method's own corrected frames and masks
(`benchmark.old_method`, tests/benchmark/old_runs.py) with an implementation of #978
written there from its description.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest

from streamer import contract, ecotaxa
from tests.benchmark.old_runs import old_run
from tests.golden.test_golden import CASES, Golden, _equal, read_tsv, segment_case

PX = 0.75  # process_pixel of every baseline acquisition
LOOSE = {"object_major", "object_minor"}  # exact moments against the baseline's BLAS ones


@pytest.fixture(scope="module", params=CASES)
def golden(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Golden:
    root = tmp_path_factory.mktemp(f"{request.param}_new") / "data"
    return segment_case(request.param, root, 2, contract.NEW)


def _rows(g: Golden) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    (tsv,) = g.baseline.glob("ecotaxa_*.tsv")
    return read_tsv(tsv)[2], read_tsv(g.tsv)[2]


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
    expected = old_run(golden.case).threshold_and_focus  # the old method, run once
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
