"""The size spectrum and the packing against numbers worked out by hand from the
definitions (streamer/report/nbss.py's docstring), not from the code.

Classes: [2^(k/3), 2^((k+1)/3)) in ESD; class width in biovolume pi/6 (e_hi^3 - e_lo^3),
which is pi/6 * e_lo^3 since e_hi^3 = 2 e_lo^3; x = the class's biovolume edges'
geometric mean, pi/6 * 2^k * sqrt(2).
"""

from __future__ import annotations

import math

import pytest

from streamer.report import nbss
from streamer.report.packing import Shelves

PI6 = math.pi / 6


def test_esd_from_area_and_biovolume() -> None:
    assert nbss.esd_from_area(math.pi * 25, 1.0) == pytest.approx(10.0)  # r = 5 px
    assert nbss.esd_from_area(math.pi * 25, 0.75) == pytest.approx(7.5)
    assert nbss.esd_from_area(math.pi * 25, None) == pytest.approx(10.0)  # pixels
    assert nbss.biovolume(10.0) == pytest.approx(523.5987755982989)  # pi/6 * 1000


def test_classes_by_hand() -> None:
    # 10 um: 3 log2(10) = 9.97 -> class 9 = [8, 10.08); 20 um -> 12 = [16, 20.16);
    # 40 um -> 15; 8 um is an edge: class 9 itself; 16 um: class 12
    assert [nbss.size_class(e) for e in (10, 20, 40, 8, 16, 7.99)] == [9, 12, 15, 9, 12, 8]


def test_nbss_values_and_slope_by_hand() -> None:
    """ESDs 10, 10, 20, 40 um in 0.5 mL:
    class 9: 2 * pi/6 * 1000 / 0.5 / (pi/6 * 512) = 7.8125
    class 12: pi/6 * 8000 / 0.5 / (pi/6 * 4096) = 3.90625
    class 15: pi/6 * 64000 / 0.5 / (pi/6 * 32768) = 3.90625
    the others 0. The maximum is class 9; no three empty classes follow before 15, so the
    fit runs over 9, 12, 15: x steps by 3 log10(2) = d, y = log10(7.8125) and twice
    log10(3.90625), i.e. deviations from the mean (2/3, -1/3, -1/3) * log10(2);
    slope = sum(dx dy) / sum(dx^2) = (-d * 2/3 L - d * 1/3 L) / (2 d^2) = -L / (2 d) = -1/6.
    Intercept: mean(y) - slope * mean(x), mean(x) = log10(pi/6 * 2^12 * sqrt 2)."""
    spec = nbss.compute([10, 10, 20, 40], 0.5)
    assert spec.first == 9
    assert spec.counts == (2, 0, 0, 1, 0, 0, 1)
    assert spec.nbss == pytest.approx((7.8125, 0, 0, 3.90625, 0, 0, 3.90625))
    assert spec.biovolumes[0] == pytest.approx(2 * PI6 * 1000)
    assert spec.fit_range == (9, 15)
    assert spec.slope == pytest.approx(-1 / 6)
    mean_y = (math.log10(7.8125) + 2 * math.log10(3.90625)) / 3
    mean_x = math.log10(PI6 * 2**12 * math.sqrt(2))
    assert spec.intercept == pytest.approx(mean_y + mean_x / 6)
    assert spec.centres()[0] == pytest.approx(PI6 * 2**9 * math.sqrt(2))


def test_the_fit_stops_before_three_empty_classes() -> None:
    """Adding one 400 um object (class 25) after classes 16-24 empty: the fit still ends at
    class 15, with the same slope; with 50 um (class 16, no gap) it goes on to it."""
    far = nbss.compute([10, 10, 20, 40, 400], 0.5)
    assert far.fit_range == (9, 15)
    assert far.slope == pytest.approx(-1 / 6)
    assert far.counts[-1] == 1 and far.first + len(far.counts) - 1 == 25
    # 50 um: class 16 = [40.3, 50.8); its NBSS: pi/6 * 125000 / 0.5 / (pi/6 * 65536)
    near = nbss.compute([10, 10, 20, 40, 50], 0.5)
    assert near.fit_range == (9, 16)
    assert near.nbss[-1] == pytest.approx(125000 / 0.5 / 65536)


def test_the_fit_starts_at_the_maximum() -> None:
    """Few small objects (an undersampled first class) then the peak: the fit starts
    at the peak. In 1 mL: class 9, one of 10 um: 1000 / 512 = 1.953; class 12, four of
    20 um: 4 * 8000 / 4096 = 7.8125; class 13, one of 25 um: 15625 / 8192 = 1.907.
    Fit over 12, 13, two points, x one log10(2) apart:
    slope = (log10(1.907) - log10(7.8125)) / log10(2)."""
    spec = nbss.compute([10, 20, 20, 20, 20, 25], 1.0)
    assert spec.fit_range == (12, 13)
    expected = (math.log10(15625 / 8192) - math.log10(4 * 8000 / 4096)) / math.log10(2)
    assert spec.slope == pytest.approx(expected)


def test_no_fit_with_one_class_and_nothing_with_no_objects() -> None:
    one = nbss.compute([10, 10.01], 1.0)
    assert one.counts == (2,) and one.slope is None and one.intercept is None
    empty = nbss.compute([], 1.0)
    assert empty.counts == () and empty.fit_range is None and empty.slope is None


def test_shelves_pack_rows_in_order_and_stop_when_full() -> None:
    shelves = Shelves(width=100, max_height=50, gap=2)
    assert shelves.place(60, 20) == (0, 0)
    assert shelves.place(38, 10) == (62, 0)  # 62 + 38 = 100: fits the row exactly
    assert shelves.place(10, 10) == (0, 22)  # a new row below the tallest (20) + gap
    assert shelves.place(90, 5) == (0, 34)  # 12 + 90 > 100: next row at 22 + 10 + 2
    assert shelves.place(10, 20) is None  # 34 + 5 + 2 + 20 > 50: full
    assert shelves.full and shelves.place(1, 1) is None  # nothing smaller squeezed in
    assert shelves.height == 39
    assert Shelves(width=10, max_height=10).place(11, 1) is None  # wider than the mosaic
