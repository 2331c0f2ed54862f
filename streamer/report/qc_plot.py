"""The QC figure `qc_plot_<id>.png`: the frame focus and the raw background along the
acquisition, frames with static objects and empty frames marked, the warnings' frames
as vertical lines (streamer.qc, segmenter.qc). Needs matplotlib, as the size spectrum."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from streamer.journal import CommittedFrame

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def render_png(
    frames: Sequence[CommittedFrame], warnings: Sequence[Mapping[str, Any]], title: str
) -> bytes:
    """The figure as PNG bytes (see build_figure)."""
    out = io.BytesIO()
    build_figure(frames, warnings, title).savefig(out, format="png")
    return out.getvalue()


def build_figure(
    frames: Sequence[CommittedFrame], warnings: Sequence[Mapping[str, Any]], title: str
) -> Figure:
    """Frames without QC (failed, or an older journal) are gaps; `warnings`: each a
    mapping with its `kind` and the `frame` where it began (segmenter.qc's JSON)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True)
    fig.suptitle(title)
    measured = [(f.index, f.qc) for f in frames if f.qc is not None and f.failed is None]
    focus = [(i, q.focus) for i, q in measured if q.focus is not None]
    if focus:
        top.plot(*zip(*focus, strict=True), ".-", color="tab:blue", label="frame focus")
    static = [(i, q.focus) for i, q in measured if q.static and q.focus is not None]
    if static:
        top.plot(*zip(*static, strict=True), "o", color="tab:red", markerfacecolor="none",
                 markersize=9, label="static objects")  # fmt: skip
    top.set_ylabel("focus score (#978)")
    top.grid(True, alpha=0.3)
    light = [(i, q.background) for i, q in measured]
    if light:
        bottom.plot(*zip(*light, strict=True), ".-", color="tab:orange", label="raw background")
    empty = [(i, q.background) for i, q in measured if q.objects == 0]
    if empty:
        bottom.plot(*zip(*empty, strict=True), "x", color="black", markersize=8,
                    label="no object")  # fmt: skip
    bottom.set_ylabel("background (0-255)")
    bottom.set_xlabel("frame")
    bottom.grid(True, alpha=0.3)
    for warning in warnings:
        for axis in (top, bottom):
            axis.axvline(int(warning["frame"]), color="tab:red", alpha=0.5, linestyle="--")
        top.annotate(str(warning["kind"]), (int(warning["frame"]), 1.0),
                     xycoords=("data", "axes fraction"), va="top", color="tab:red")  # fmt: skip
    for axis in (top, bottom):
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best")
    fig.tight_layout()
    return fig
