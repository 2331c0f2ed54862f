"""The normalized biovolume size spectrum (NBSS), as plankton ecologists compute it.

Each object's equivalent spherical diameter (ESD) comes from its area, its biovolume is
that of the sphere, pi/6 * ESD^3. The size classes grow by 2^(1/3) in ESD from 1 (um, or
px without a pixel size), so the biovolume doubles from class to class and every
acquisition shares the same grid. For class i with ESD edges [e_i, e_i * 2^(1/3)):

    NBSS_i = (sum of the biovolumes in class i) / imaged volume / (class width)

where the class width is in biovolume, pi/6 * (e_(i+1)^3 - e_i^3), so NBSS is a number
density per unit of size (per mL when the imaged volume is in mL). On log-log axes it
is about a line: the least-squares fit of log10(NBSS) against log10(class biovolume,
the geometric mean of its edges) runs from the class of the maximum to the last
non-empty class before three empty ones (empty classes in that range are left out,
their log is undefined); its slope is the spectrum's slope.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STEP = 2 ** (1 / 3)  # ESD ratio of consecutive classes
ORIGIN = 1.0  # the ESD of class 0's lower edge
EMPTY_RUN = 3  # this many empty classes in a row end the fitted range


def esd_from_area(area: float, pixel_um: float | None) -> float:
    """The diameter of the disc of the same area; in um when the pixel size is known."""
    return 2.0 * math.sqrt(area / math.pi) * (pixel_um or 1.0)


def biovolume(esd: float) -> float:
    return math.pi / 6.0 * esd**3


@dataclass(frozen=True, slots=True)
class Spectrum:
    """Classes `first`..`first + len(counts) - 1` of the grid and the fit (None when fewer
    than two classes are in its range)."""

    first: int
    counts: tuple[int, ...]
    biovolumes: tuple[float, ...]  # summed per class
    nbss: tuple[float, ...]
    fit_range: tuple[int, int] | None  # class indices, inclusive
    slope: float | None
    intercept: float | None  # of log10(NBSS) = slope * log10(biovolume) + intercept
    fit_points: int | None = None  # non-empty classes the line was fitted to
    r_squared: float | None = None  # of the fit, in log-log

    def lower_edge(self, index: int) -> float:
        return ORIGIN * STEP**index

    def centres(self) -> list[float]:
        """Per class, the geometric mean of its biovolume edges (x on the plot)."""
        return [
            biovolume(self.lower_edge(self.first + k)) * math.sqrt(2)
            for k in range(len(self.counts))
        ]


def size_class(esd: float) -> int:
    """The class whose ESD range holds `esd` (rounded so that an edge is its own class)."""
    return math.floor(round(math.log(esd / ORIGIN, STEP), 9))


def fit_range(nbss: Sequence[float]) -> tuple[int, int] | None:
    """Offsets of the first and last class of the fit: from the maximum to the last
    non-empty class before `EMPTY_RUN` empty ones (or the last one)."""
    if not any(v > 0 for v in nbss):
        return None
    start = max(range(len(nbss)), key=lambda k: nbss[k])
    end, empty = start, 0
    for k in range(start + 1, len(nbss)):
        if nbss[k] > 0:
            end, empty = k, 0
        else:
            empty += 1
            if empty == EMPTY_RUN:
                break
    return start, end


def compute(esds: Sequence[float], volume: float) -> Spectrum:
    """The spectrum of objects of these ESDs found in `volume` (use 1 when unknown)."""
    sizes = [e for e in esds if e > 0]
    if not sizes:
        return Spectrum(0, (), (), (), None, None, None)
    classes = [size_class(e) for e in sizes]
    first, last = min(classes), max(classes)
    n = last - first + 1
    counts, volumes = [0] * n, [0.0] * n
    for esd, cls in zip(sizes, classes, strict=True):
        counts[cls - first] += 1
        volumes[cls - first] += biovolume(esd)
    widths = [
        biovolume(ORIGIN * STEP ** (first + k + 1)) - biovolume(ORIGIN * STEP ** (first + k))
        for k in range(n)
    ]
    nbss = [v / volume / w for v, w in zip(volumes, widths, strict=True)]
    span = fit_range(nbss)
    slope = intercept = r_squared = None
    points = None
    if span is not None:
        ks = [k for k in range(span[0], span[1] + 1) if nbss[k] > 0]
        if len(ks) >= 2:
            centres = [biovolume(ORIGIN * STEP ** (first + k)) * math.sqrt(2) for k in ks]
            x = np.log10(centres)
            y = np.log10([nbss[k] for k in ks])
            slope_, intercept_ = np.polyfit(x, y, 1)
            slope, intercept, points = float(slope_), float(intercept_), len(ks)
            residual = float(((y - (slope * x + intercept)) ** 2).sum())
            spread = float(((y - y.mean()) ** 2).sum())
            r_squared = 1.0 - residual / spread if spread > 0 else 1.0
    where = None if span is None else (first + span[0], first + span[1])
    return Spectrum(
        first, tuple(counts), tuple(volumes), tuple(nbss), where, slope, intercept, points,
        r_squared,
    )  # fmt: skip
