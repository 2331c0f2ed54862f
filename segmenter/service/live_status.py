"""What the service says about a live acquisition: its state, retained, on
`status/segmenter/live` (never on the dashboard's `status/segmenter`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from segmenter.engine import AcquisitionSummary, Progress
from segmenter.engine.source import LiveFrames
from segmenter.service.preview import publish_preview
from segmenter.service.progress import Publisher, below_img, publish_warnings
from segmenter.service.status import encode, public_text

LIVE_TOPIC = "status/segmenter/live"
MIN_INTERVAL = 0.2  # seconds between two live statuses of the same state


@dataclass(frozen=True, slots=True)
class LiveMessage:
    folder: str
    state: str  # waiting, keeping up, lagging, finishing, done, failed, stopped
    seen: int = 0
    segmented: int = 0
    announced: int | None = None
    objects: int = 0
    failed_frames: int = 0
    lag: int = 0
    reason: str | None = None  # why the imager part ended
    archive: str | None = None
    message: str | None = None
    seconds: float = 0.0
    waiting: tuple[str, ...] = ()  # live acquisitions queued behind this one
    warnings: tuple[dict[str, object], ...] = ()  # the QC warnings so far (segmenter.qc)


class LiveStatus:
    """The retained live status of one live acquisition."""

    def __init__(
        self,
        publisher: Publisher,
        source: LiveFrames,
        *,
        waiting: Callable[[], list[str]],
        data_root: Path,
    ) -> None:
        self.publisher, self.source, self.waiting = publisher, source, waiting
        self.data_root = data_root  # published paths are relative to it
        self.last: LiveMessage = LiveMessage(str(source.folder), "waiting")
        self._sent_at = 0.0
        self.warned = 0  # QC warnings published on their topic

    def __call__(self, event: Progress) -> None:
        publish_preview(self.publisher, event, self.data_root)
        live = event.live
        if live is None:
            return
        if event.phase == "start":
            self.warned = len(event.warnings)  # a resumed run's were said by its first run
        new = len(event.warnings) > self.warned
        rel = below_img(event.acquisition, self.data_root)
        self.warned = publish_warnings(
            self.publisher, event, already=self.warned, item=None, acquisition=rel
        )
        message = LiveMessage(
            str(self.source.folder),
            live.state,
            live.seen,
            event.done,
            live.announced,
            event.objects,
            event.failed,
            live.lag,
            live.ended,
            seconds=round(event.elapsed, 3),
            waiting=tuple(self.waiting()),
            warnings=tuple(w.to_json() for w in event.warnings),
        )
        now = time.monotonic()
        if not new and message.state == self.last.state and now - self._sent_at < MIN_INTERVAL:
            self.last = message  # shown with the next one
            return
        self._send(message, now)

    def end(self, summary: AcquisitionSummary) -> None:
        state = {"done": "done", "skipped": "done", "interrupted": "stopped"}.get(
            summary.status, "failed"
        )
        last = self.last
        message = LiveMessage(
            last.folder,
            state,
            max(last.seen, summary.frames),
            summary.frames if state == "done" else last.segmented,
            last.announced,
            summary.objects,
            len(summary.failed_frames),
            0,
            self.source.end_reason or last.reason,
            summary.archive,
            summary.message,
            summary.seconds,
            tuple(self.waiting()),
            last.warnings,
        )
        self._send(message, time.monotonic())

    def _send(self, message: LiveMessage, now: float) -> None:
        self.last, self._sent_at = message, now
        self.republish()

    def republish(self) -> None:
        """The last status again (after a reconnect), its paths relative to the data root."""
        root, last = self.data_root, self.last
        public = replace(
            last,
            folder=public_text(last.folder, root),
            archive=last.archive and public_text(last.archive, root),
            message=last.message and public_text(last.message, root),
            waiting=tuple(public_text(w, root) for w in last.waiting),
        )
        self.publisher.publish(LIVE_TOPIC, encode(public), qos=1, retain=True)
