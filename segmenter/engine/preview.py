"""When a frame's live preview is made, and what goes with it.

The parent asks a worker for a preview (`worker.preview.PreviewRequest` in the task)
only for a frame dispatched once `every` seconds have passed since the last request,
whatever the frame rate; every other frame pays nothing. The worker returns the JPEG
with the frame's result; the run hands it on with the frame's progress event, boxes and
QC figures beside it (`FramePreview`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from segmenter.engine.events import FramePreview
from segmenter.qc import QCWarning
from streamer.journal import CommittedFrame
from worker.preview import PreviewRequest
from worker.records import ObjectRecord

# the per-frame QC figures the preview's companion carries when the frame's record has them
QC_KEYS = ("focus", "focus_grid", "background", "objects", "static", "warnings")


class HasShape(Protocol):
    shape: tuple[int, int] | None  # the acquisition's (height, width), once known


class Previews:
    """At most one preview request every `every` seconds; the last JPEG received."""

    def __init__(self, every: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.last = -math.inf
        self.received: tuple[int, bytes] | None = None

    def request(self, index: int) -> PreviewRequest | None:
        """A request for frame `index` (about to be dispatched) if it is time for one."""
        now = self.clock()
        if now - self.last < self.every:
            return None
        self.last = now
        return PreviewRequest(index)

    def keep(self, index: int, jpeg: bytes) -> None:
        self.received = (index, jpeg)

    def take(self, index: int) -> bytes | None:
        """The JPEG of frame `index` if it came (once)."""
        if self.received is None or self.received[0] != index:
            return None
        jpeg, self.received = self.received[1], None
        return jpeg

    def of(
        self,
        frame: CommittedFrame,
        scheduler: HasShape | None,
        warnings: Sequence[QCWarning] = (),
    ) -> FramePreview | None:
        """The committed frame's preview, if its JPEG came; the QC figures from its
        record's QC (worker.qc) when it has one, and the acquisition's warnings so far."""
        jpeg = self.take(frame.index)
        if jpeg is None:
            return None
        shape = scheduler.shape if scheduler is not None else None
        qc: dict[str, Any] = frame.qc.to_json() if frame.qc is not None else {}
        if warnings:
            qc["warnings"] = [w.to_json() for w in warnings]
        return frame_preview(
            jpeg, (frame.index, frame.name), objects=frame.objects, shape=shape, qc=qc
        )


def frame_preview(
    jpeg: bytes,
    frame: tuple[int, str],
    *,
    objects: tuple[ObjectRecord, ...],
    shape: tuple[int, int] | None,
    qc: Mapping[str, Any] | None = None,
) -> FramePreview:
    """The preview of committed frame (index, name): its objects' boxes in frame pixels
    (the journal's raw values), the QC figures of its record that it has (QC_KEYS)."""
    boxes = tuple(
        (int(f["bx"]), int(f["by"]), int(f["bw"]), int(f["bh"]))
        for f in (o.features for o in objects)
    )
    height, width = shape if shape is not None else (0, 0)
    figures = {k: qc[k] for k in QC_KEYS if qc is not None and k in qc}
    return FramePreview(jpeg, frame[0], frame[1], width, height, boxes, len(objects), figures)
