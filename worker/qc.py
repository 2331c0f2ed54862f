"""Per-frame quality control (issue 28), computed by the worker with the rest of the frame.

`FrameQC` is what the journal keeps of each frame (under `qc`):
- `focus`: PlanktoScope #978's focus score over all of the frame's objects at once,
  sum(L*L) / sum(gx*gx + gy*gy) over the union of their bands (worker.features'
  `focus_terms`), both sums exact integers: the same on every CPU; None without objects;
- `focus_grid`: the same measure per cell of a 4x4 grid over the corrected frame (a pixel
  belongs to the cell its frame position falls in), None where a cell has no edges;
- `background`: the raw frame's brightness: the median of its pixel values (every channel,
  every 8th row), an integer 0..255, before the flat correction (drift shows);
- `objects`: the object count; `static`: how many of them did not move since the
  previous frame (`static_flags`, decided where frames commit in order; None until then).

Objects that do not move (`static_flags`): the fluid moves between stop-flow frames, so
an object whose filled outer contour covers the same pixels as one of the previous
frame's (intersection over union >= STATIC_OVERLAP) is stuck on the flow cell (debris,
a bubble). The contours are the journal's (`ObjectRecord.contour`), so a resumed run
decides exactly as an uninterrupted one. Flagged, never dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

GRID = 4  # cells per side of the focus grid
BACKGROUND_STEP = 8  # the background's sample: every 8th row (all columns, channels)
#: Intersection over union from which an object is the previous frame's, not moved.
#: Measured (docs/qc.md): objects of consecutive frames of the baseline's acquisitions at
#: most 0.19, of synthetic ones at most 0.35; a stuck disc with sensor noise and a 1 px
#: jitter 0.83-0.91 (1.0 without them).
STATIC_OVERLAP = 0.5

Contour = Sequence[Sequence[int]]


@dataclass(frozen=True, slots=True)
class FrameQC:
    """One frame's QC figures (the journal's `qc`; see the module's doc)."""

    focus: float | None
    focus_grid: tuple[tuple[float | None, ...], ...]
    background: int
    objects: int
    static: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "focus": self.focus,
            "focus_grid": [list(row) for row in self.focus_grid],
            "background": self.background,
            "objects": self.objects,
            "static": self.static,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameQC:
        def number(value: Any) -> float | None:
            return None if value is None else float(value)

        static = data.get("static")
        return cls(
            number(data.get("focus")),
            tuple(tuple(number(v) for v in row) for row in data["focus_grid"]),
            int(data["background"]),
            int(data["objects"]),
            None if static is None else int(static),
        )

    def with_static(self, count: int) -> FrameQC:
        return replace(self, static=count)


def _cuts(start: int, size: int, extent: int) -> list[int]:
    """[start, start + size) cut where the cell changes: start, the cells' first
    positions inside, start + size."""
    inside = (-(-k * extent // GRID) for k in range(1, GRID))
    return [start, *(b for b in inside if start < b < start + size), start + size]


def _ratio(laplacian: int, gradient: int) -> float | None:
    """The #978 score from exact sums (worker.features.focus_ratio), None for no edges."""
    return laplacian / gradient if gradient else None


class FocusGrid:
    """Accumulates the focus terms of a frame's objects (a `worker.features.FocusSink`),
    per cell, in exact integers: each object's crop cut at the cells' edges, each piece
    summed (row r is in cell row r * GRID // height; the first row of cell row k is
    ceil(k * height / GRID), and the same for columns)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.lap = np.zeros(GRID * GRID, np.int64)
        self.grad = np.zeros(GRID * GRID, np.int64)

    def __call__(
        self, offset: tuple[int, int], lap2: npt.NDArray[np.int32], grad2: npt.NDArray[np.int32]
    ) -> None:
        (top, left), (h, w) = offset, self.shape
        row_cuts = _cuts(top, lap2.shape[0], h)
        col_cuts = _cuts(left, lap2.shape[1], w)
        for r0, r1 in itertools.pairwise(row_cuts):
            for c0, c1 in itertools.pairwise(col_cuts):
                cell = (r0 * GRID // h) * GRID + c0 * GRID // w
                piece = (slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
                self.lap[cell] += int(lap2[piece].sum(dtype=np.int64))
                self.grad[cell] += int(grad2[piece].sum(dtype=np.int64))

    def result(self, background: int, objects: int) -> FrameQC:
        lap, grad = self.lap.reshape(GRID, GRID), self.grad.reshape(GRID, GRID)
        grid = tuple(
            tuple(_ratio(int(lap[r, c]), int(grad[r, c])) for c in range(GRID)) for r in range(GRID)
        )
        focus = _ratio(int(self.lap.sum()), int(self.grad.sum())) if objects else None
        return FrameQC(focus, grid, background, objects)


def background(frame: npt.NDArray[np.uint8]) -> int:
    """The median pixel value of the raw frame's sample (every channel of every
    BACKGROUND_STEP-th row; the lower middle for an even count): an integer, from integer
    counts (OpenCV's float32 histogram counts exactly below 2**24 values, which the
    sample stays under)."""
    step = BACKGROUND_STEP
    while -(-frame.shape[0] // step) * frame[0].size >= 1 << 24:
        step *= 2
    sample = frame[::step]
    rows = sample.reshape(sample.shape[0], -1)  # a view: each row's bytes are contiguous
    counts = cv2.calcHist([rows], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    return int(np.searchsorted(np.cumsum(counts), (rows.size + 1) // 2))


Box = tuple[int, int, int, int]


def _box(contour: npt.NDArray[np.int32]) -> Box:
    """(x0, y0, x1, y1), inclusive."""
    lo, hi = contour.min(axis=0), contour.max(axis=0)
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def _meet(a: Box, b: Box) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def overlap(a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> float:
    """Intersection over union of two filled contours ([x, y] points), in pixels."""
    box_a, box_b = _box(a), _box(b)
    if not _meet(box_a, box_b):
        return 0.0
    x0, y0 = min(box_a[0], box_b[0]), min(box_a[1], box_b[1])
    shape = (max(box_a[3], box_b[3]) - y0 + 1, max(box_a[2], box_b[2]) - x0 + 1)
    origin = np.array([x0, y0], np.int32)
    ma, mb = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    cv2.fillPoly(ma, [a - origin], 1)
    cv2.fillPoly(mb, [b - origin], 1)
    inter = int(np.count_nonzero(ma & mb))
    union = int(np.count_nonzero(ma | mb))
    return inter / union if union else 0.0


def static_flags(
    previous: Sequence[Contour | None] | None,
    current: Sequence[Contour | None],
    level: float = STATIC_OVERLAP,
) -> list[bool]:
    """Per object of `current`, whether it overlaps an object of the previous frame by
    `level` or more (intersection over union). No previous frame (the first, or one that
    failed), or a contour unknown (a journal older than contours): not static."""
    if not previous:
        return [False] * len(current)
    before = [np.asarray(c, np.int32).reshape(-1, 2) for c in previous if c]
    boxes = [_box(c) for c in before]
    flags = []
    for contour in current:
        if not contour:
            flags.append(False)
            continue
        points = np.asarray(contour, np.int32).reshape(-1, 2)
        box = _box(points)
        near = [other for other, b in zip(before, boxes, strict=True) if _meet(box, b)]
        flags.append(any(overlap(points, other) >= level for other in near))
    return flags
