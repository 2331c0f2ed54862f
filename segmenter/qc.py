"""The QC warnings of one acquisition while it runs (issue 28): fed each committed frame
in order, it says once when a condition began and held for `frames` frames in a row:

- `focus`: the frame focus (worker.qc) below `focus_min` (frames without objects have no
  focus: they neither count nor break the run);
- `drift`: the raw background `drift` grey levels or more from the first frame's;
- `static`: `static` or more objects that did not move since the previous frame;
- `empty`: no object at all.

A failed frame, or one committed before the journal kept QC, is passed over. The levels
are settings (segmenter.rules: one rule each; how the defaults were chosen: docs/qc.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segmenter import rules
from segmenter.settings import RunSettings
from streamer import qc as qc_figures
from streamer.journal import CommittedFrame
from worker.qc import FrameQC

KINDS = ("focus", "drift", "static", "empty")


@dataclass(frozen=True, slots=True)
class QCLevels:
    focus_min: float = rules.QC_FOCUS_MIN
    drift: int = rules.QC_DRIFT
    static: int = rules.QC_STATIC
    frames: int = rules.QC_FRAMES

    @classmethod
    def of(cls, settings: RunSettings) -> QCLevels:
        return cls(settings.qc_focus_min, settings.qc_drift, settings.qc_static, settings.qc_frames)


@dataclass(frozen=True, slots=True)
class QCWarning:
    """One warning: its kind (KINDS), the frame where its condition began, a sentence."""

    kind: str
    frame: int
    name: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "frame": self.frame, "name": self.name, "message": self.message}


@dataclass
class _Run:
    start: int = -1
    name: str = ""
    count: int = 0


class QCWatch:
    """Warnings and figures of one acquisition's committed frames (see the module's doc)."""

    def __init__(self, levels: QCLevels) -> None:
        self.levels = levels
        self.warnings: list[QCWarning] = []
        self.frames: list[CommittedFrame] = []  # slim: what the figures need
        self._runs = {kind: _Run() for kind in KINDS}
        self._start: int | None = None  # the first frame's background

    def add(self, frame: CommittedFrame) -> list[QCWarning]:
        """Account for the next committed frame; the warnings that begin to hold now."""
        self.frames.append(CommittedFrame(frame.index, frame.name, frame.flat_from, (), (),
                                          frame.failed, frame.qc))  # fmt: skip
        qc = frame.qc
        if qc is None or frame.failed is not None:
            return []
        if self._start is None:
            self._start = qc.background
        fired = {w.kind for w in self.warnings}
        new = []
        for kind, holds in self._conditions(qc).items():
            run = self._runs[kind]
            if holds is None:
                continue
            if not holds:
                run.count = 0
                continue
            if run.count == 0:
                run.start, run.name = frame.index, frame.name
            run.count += 1
            if run.count >= self.levels.frames and kind not in fired:
                new.append(QCWarning(kind, run.start, run.name, self._message(kind, run, qc)))
        self.warnings += new
        return new

    def _conditions(self, qc: FrameQC) -> dict[str, bool | None]:
        levels, start = self.levels, self._start
        return {
            "focus": None if qc.focus is None else qc.focus < levels.focus_min,
            "drift": start is not None and abs(qc.background - start) >= levels.drift,
            "static": None if qc.static is None else qc.static >= levels.static,
            "empty": qc.objects == 0,
        }

    def _message(self, kind: str, run: _Run, qc: FrameQC) -> str:
        levels, since = self.levels, f"since frame {run.start} ({run.name})"
        if kind == "focus":
            return f"out of focus: frame focus below {levels.focus_min:g} {since}"
        if kind == "drift":
            change = qc.background - (self._start or 0)
            return (
                f"brightness drift: background {qc.background}, {change:+d} from the first "
                f"frame's {self._start} {since}"
            )
        if kind == "static":
            return (
                f"{levels.static} or more objects per frame do not move (debris or bubbles "
                f"on the flow cell?) {since}"
            )
        return f"no objects in {levels.frames} frames in a row {since}"

    def figures(self) -> dict[str, Any]:
        """The summary's QC: streamer.qc's figures and the warnings."""
        return {**qc_figures.figures(self.frames), "warnings": [w.to_json() for w in self.warnings]}
