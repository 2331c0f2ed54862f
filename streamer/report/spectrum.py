"""The size-spectrum figure: the NBSS on log-log axes, the classes the line was fitted to
filled and the others hollow, the fit's slope, intercept, n and R², beside the plain ESD
histogram; titled with sample, acquisition, date and volume imaged. Needs matplotlib
(`pip install '.[report]'`)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from streamer.report.nbss import Spectrum

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING = (
    "size spectrum and QC figure not drawn: matplotlib is not installed (pip install '.[report]')"
)


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Title:
    sample: str
    acquisition: str
    date: str
    volume_ml: float | None  # imaged
    objects: int

    def __str__(self) -> str:
        volume = f"{self.volume_ml:g} mL imaged" if self.volume_ml else "volume imaged unknown"
        return (
            f"sample {self.sample}, acquisition {self.acquisition}, {self.date}: {volume}, "
            f"{self.objects} objects"
        )


def render_png(
    spectrum: Spectrum, esds: Sequence[float], *, unit: str, per: str, title: Title
) -> bytes:
    """The figure as PNG bytes (see build_figure)."""
    out = io.BytesIO()
    build_figure(spectrum, esds, unit=unit, per=per, title=title).savefig(out, format="png")
    return out.getvalue()


def _fit_label(spectrum: Spectrum) -> str:
    r2 = f", R² = {spectrum.r_squared:.3f}" if spectrum.r_squared is not None else ""
    return (
        f"fit: slope {spectrum.slope:.2f}, intercept {spectrum.intercept:.2f}, "
        f"n = {spectrum.fit_points}{r2}"
    )


def build_figure(
    spectrum: Spectrum, esds: Sequence[float], *, unit: str, per: str, title: Title
) -> Figure:
    """`unit`: of the ESD (um or px); `per`: NBSS's volume unit (`mL`, or `acquisition`
    when the imaged volume is unknown)."""
    import matplotlib

    matplotlib.use("Agg")  # no screen on a Pi service; set before pyplot is imported
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=(11, 4.5), dpi=100)
    left, right = fig.subplots(1, 2)
    fig.suptitle(str(title))
    centres = spectrum.centres()
    lo, hi = (-1, -1)
    if spectrum.fit_range and spectrum.slope is not None:
        lo, hi = (spectrum.fit_range[0] - spectrum.first, spectrum.fit_range[1] - spectrum.first)
    fitted = [(x, y) for k, (x, y) in enumerate(zip(centres, spectrum.nbss, strict=True))
              if y > 0 and lo <= k <= hi]  # fmt: skip
    others = [(x, y) for k, (x, y) in enumerate(zip(centres, spectrum.nbss, strict=True))
              if y > 0 and not lo <= k <= hi]  # fmt: skip
    points = fitted + others
    if fitted:
        left.loglog(*zip(*fitted, strict=True), "o", color="tab:blue", label="NBSS, fitted")
    if others:
        left.loglog(*zip(*others, strict=True), "o", color="tab:blue", markerfacecolor="none",
                    label="NBSS, not fitted")  # fmt: skip
    if spectrum.slope is not None and spectrum.intercept is not None and lo >= 0:
        xs = np.array([centres[lo], centres[hi]])
        ys = 10 ** (spectrum.intercept + spectrum.slope * np.log10(xs))
        left.loglog(xs, ys, "-", color="tab:red", label=_fit_label(spectrum))
    shown = "µm" if unit == "um" else unit
    left.set_xlabel(f"biovolume ({shown}³)")
    left.set_ylabel(f"NBSS ({shown}³ per {per} / {shown}³)")
    left.xaxis.set_minor_formatter(NullFormatter())  # decades only: no overlapping labels
    left.yaxis.set_minor_formatter(NullFormatter())
    left.set_title("normalized biovolume size spectrum")
    if points:
        left.legend()
    left.grid(True, which="both", alpha=0.3)
    if esds:
        right.hist(esds, bins="auto", color="tab:green", edgecolor="white")
    right.set_xlabel(f"ESD ({shown})")
    right.set_ylabel("objects")
    right.set_title(f"ESD histogram ({len(esds)} objects)")
    fig.tight_layout()
    return fig
