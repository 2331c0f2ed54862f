"""The report a scientist reads: mosaic tiles carry their object id, a size-stratified
selection shows the small objects too, and the spectrum tells fitted from unfitted
points, gives slope, intercept, n and R², with sample, acquisition, date and volume in
its title (checked on the figure's own elements)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segmenter import cli
from streamer.report import mosaic, nbss, spectrum
from tests.conftest import MakeAcq


def test_a_tile_carries_its_object_id_below_the_scale_bar() -> None:
    crop = np.full((40, 60, 3), 200, np.uint8)
    bare, labelled = mosaic.tile(crop, 1.0), mosaic.tile(crop, 1.0, "obj_7")
    assert labelled.shape[0] == bare.shape[0] + mosaic.ID_STRIP
    assert (labelled[: bare.shape[0], : bare.shape[1]] == bare).all()
    assert (labelled[bare.shape[0] :] < 128).any()  # the id's dark text


def test_size_stratified_selection_takes_every_size_class_first() -> None:
    # 20 big objects (ESD 400-419) and 5 small ones (25 um): largest first hides the small
    sized = [(400.0 + k, f"big{k}") for k in range(20)] + [(25.0, f"small{k}") for k in range(5)]
    assert all(n.startswith("big") for n in mosaic.select(sized, "largest")[:20])
    by_size = mosaic.select(sized, "by-size")
    assert sorted(by_size) == sorted(n for _e, n in sized)
    classes = {nbss.size_class(e) for e, _n in sized}
    first = by_size[: len(classes)]
    assert {nbss.size_class(dict((n, e) for e, n in sized)[x]) for x in first} == classes
    assert by_size[0] == "big19"  # within a class, the largest first


def test_the_spectrum_figure_tells_fit_from_the_rest() -> None:
    rng = np.random.default_rng(0)
    esds = list(20 + rng.pareto(1.5, 400) * 30)
    spec = nbss.compute(esds, 2.5)
    assert spec.fit_points is not None and spec.fit_points >= 2
    assert spec.r_squared is not None and 0 <= spec.r_squared <= 1
    title = spectrum.Title("S_12", "A_1", "2026-03-10", 2.5, len(esds))
    fig = spectrum.build_figure(spec, esds, unit="um", per="mL", title=title)
    left = fig.axes[0]
    fitted = [ln for ln in left.get_lines() if ln.get_label() == "NBSS, fitted"]
    others = [ln for ln in left.get_lines() if ln.get_label() == "NBSS, not fitted"]
    assert len(fitted) == 1 and np.asarray(fitted[0].get_xdata()).size == spec.fit_points
    assert others and others[0].get_markerfacecolor() == "none"  # hollow
    box = left.get_legend()
    assert box is not None
    legend = " ".join(t.get_text() for t in box.get_texts())
    assert f"slope {spec.slope:.2f}" in legend and f"intercept {spec.intercept:.2f}" in legend
    assert f"n = {spec.fit_points}" in legend and "R² = " in legend
    heading = fig.get_suptitle()
    for part in ("S_12", "A_1", "2026-03-10", "2.5 mL imaged", f"{len(esds)} objects"):
        assert part in heading


def test_r_squared_of_points_on_a_line_is_one() -> None:
    # objects whose NBSS falls exactly on a power law: ESD classes filled as 2^-k
    esds = [e for k in range(6) for e in [40.0 * 2 ** (k / 3)] * (2 ** (12 - 2 * k))]
    spec = nbss.compute(esds, 1.0)
    assert spec.r_squared == pytest.approx(1.0, abs=0.05)


def test_report_by_size_names_its_order_in_the_mosaic(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=3, seed=2)
    assert cli.main(["segment", str(folder), "--workers", "1", "--no-report"]) == 0
    assert cli.main(["report", str(folder), "--mosaic", "by-size", "--json"]) == 0
    picture = cv2.imread(str(root / "export" / "ecotaxa" / "mosaic_synth_s2_synth_a2.jpg"))
    assert picture is not None and picture.shape[1] == mosaic.WIDTH
