"""The size-spectrum figure: the NBSS on log-log axes with its fitted line and slope,
beside the plain ESD histogram. Needs matplotlib (`pip install '.[report]'`)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from streamer.report.nbss import Spectrum

MISSING = "size spectrum not drawn: matplotlib is not installed (pip install '.[report]')"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def render_png(spectrum: Spectrum, esds: Sequence[float], unit: str, per: str, title: str) -> bytes:
    """The figure as PNG bytes. `unit`: of the ESD (um or px); `per`: NBSS's volume unit
    (`mL`, or `acquisition` when the imaged volume is unknown)."""
    import matplotlib

    matplotlib.use("Agg")  # no screen on a Pi service; set before pyplot is imported
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=(11, 4.5), dpi=100)
    left, right = fig.subplots(1, 2)
    fig.suptitle(title)
    centres = spectrum.centres()
    points = [(x, y) for x, y in zip(centres, spectrum.nbss, strict=True) if y > 0]
    if points:
        left.loglog(*zip(*points, strict=True), "o", color="tab:blue", label="NBSS")
    if spectrum.slope is not None and spectrum.intercept is not None and spectrum.fit_range:
        lo, hi = (spectrum.fit_range[0] - spectrum.first, spectrum.fit_range[1] - spectrum.first)
        xs = np.array([centres[lo], centres[hi]])
        ys = 10 ** (spectrum.intercept + spectrum.slope * np.log10(xs))
        left.loglog(xs, ys, "-", color="tab:red", label=f"fit, slope {spectrum.slope:.2f}")
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
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
