"""The report's QC figure (streamer.report.qc_plot): the focus and the raw background along
the acquisition, the frames with static objects and the empty frames marked, each
warning a line at the frame where it began; a failed frame is a gap (checked on the
figure's own elements)."""

from __future__ import annotations

import numpy as np
import pytest

from streamer.journal import CommittedFrame
from streamer.report import qc_plot
from worker.qc import FrameQC

GRID = tuple(tuple(None for _ in range(4)) for _ in range(4))


def _frame(
    index: int, *, objects: int = 4, static: int = 0, failed: str | None = None
) -> CommittedFrame:
    focus = None if objects == 0 else 0.2 + index / 100
    qc = FrameQC(focus, GRID, 190 + index, objects, static)
    return CommittedFrame(index, f"f{index:02d}.jpg", 0, (), (), failed, qc)


def _line(axis: object, label: str) -> tuple[list[float], list[float]]:
    lines = [ln for ln in axis.get_lines() if ln.get_label() == label]  # type: ignore[attr-defined]
    assert len(lines) == 1, f"one line {label!r}"
    xs, ys = lines[0].get_xdata(), lines[0].get_ydata()
    return [float(x) for x in np.asarray(xs)], [float(y) for y in np.asarray(ys)]


def test_static_and_empty_frames_are_marked_and_warnings_drawn_where_they_began() -> None:
    frames = [_frame(i) for i in range(10)]
    frames[3] = _frame(3, static=2)
    frames[6] = _frame(6, objects=0)
    frames[7] = _frame(7, objects=0)
    frames[8] = _frame(8, failed="unreadable")
    warnings = [{"kind": "empty", "frame": 6}, {"kind": "drift", "frame": 2}]
    fig = qc_plot.build_figure(frames, warnings, "QC: a")
    top, bottom = fig.axes
    xs, ys = _line(top, "frame focus")
    assert xs == [0, 1, 2, 3, 4, 5, 9], "no focus on empty frames, a gap at the failed one"
    assert ys[3] == pytest.approx(0.23)
    xs, ys = _line(top, "static objects")
    assert xs == [3.0] and ys == [pytest.approx(0.23)]
    xs, ys = _line(bottom, "raw background")
    assert xs == [0, 1, 2, 3, 4, 5, 6, 7, 9] and ys[-1] == 199
    assert _line(bottom, "no object") == ([6.0, 7.0], [196.0, 197.0])
    for axis in (top, bottom):
        dashed = [ln for ln in axis.get_lines() if ln.get_linestyle() == "--"]
        assert sorted(float(np.asarray(ln.get_xdata())[0]) for ln in dashed) == [2.0, 6.0]
    assert {t.get_text() for t in top.texts} == {"empty", "drift"}
    assert fig.get_suptitle() == "QC: a"
    assert qc_plot.render_png(frames, warnings, "QC: a").startswith(b"\x89PNG")


def test_an_acquisition_without_marks_has_none() -> None:
    fig = qc_plot.build_figure([_frame(i) for i in range(3)], [], "QC: b")
    labels = {ln.get_label() for axis in fig.axes for ln in axis.get_lines()}
    assert labels == {"frame focus", "raw background"}
