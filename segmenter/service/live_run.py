"""The service's live work (a mixin of `Service`): imager events in, live acquisitions
run through the blocking engine on the worker thread.

Like runner.py for queue items: a stop reaches the engine through
`Segmenter.stop(wait=False)` while `in_engine` is true; `run()` returning means the engine
is idle. A live acquisition that begins while a queue item runs makes the item give way
(it goes back to the queue's head). Its statuses go on `status/segmenter/live` only
(live.py); its summary on the summary topic, as a queue item's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from segmenter.engine import AcquisitionSummary, Progress, Segmenter
from segmenter.engine.source import FrameFinder, LiveFrames
from segmenter.live.imager import parse_imager
from segmenter.service.live import LiveFollower, LiveStatus
from segmenter.service.progress import Publisher
from segmenter.service.runner import Running
from segmenter.service.status import error_message
from segmenter.service.summary import publish_summaries
from segmenter.service.uploads import ServiceUploads
from segmenter.settings import RunSettings

log = logging.getLogger(__name__)


@dataclass
class LiveRunning:
    """The live acquisition the worker runs, and what happened to it while it ran."""

    source: LiveFrames
    status: LiveStatus
    stops: int = 0
    in_engine: bool = False


class Beating:
    """A frame finder that tells the watchdog the worker is alive each time it looks
    (a live acquisition may wait minutes for a frame)."""

    def __init__(self, finder: FrameFinder, beat: Callable[[], None]) -> None:
        self.finder, self.beat = finder, beat

    def poll(self) -> list[Path]:
        self.beat()
        return self.finder.poll()

    def expected(self) -> int | None:
        return self.finder.expected()


def run_live(
    engine: Segmenter,
    running: LiveRunning,
    settings: RunSettings,
    data_root: Path,
    lock: threading.Condition,
    beat: Callable[[], None],
) -> AcquisitionSummary:
    """The live acquisition to its end; a stop keeps what was committed."""
    status = running.status

    def on_progress(event: Progress) -> None:
        beat()
        with lock:
            status(event)

    with lock:
        if running.stops:
            return AcquisitionSummary(str(running.source.folder), "interrupted", message="stopped")
        running.in_engine = True
    try:
        engine.ensure_workers(settings.worker_count)
        # a resume must not start over, whatever the defaults say
        return engine.run_live(
            running.source,
            replace(settings, force=False),
            data_root,
            on_progress,
            stop_requested=lambda: running.stops > 0,
        )
    finally:
        engine.wait_idle()
        with lock:
            running.in_engine = False


class LiveWork:
    """The live half of the service (a mixin of `Service`, which sets these up)."""

    data_root: Path
    engine: Segmenter
    publisher: Publisher
    defaults: RunSettings
    lock: threading.Condition
    live: LiveFollower
    _running: Running | None
    _live: LiveRunning | None
    _abandoned: bool
    _closing: bool
    uploads: ServiceUploads

    def _beat(self) -> None:
        raise NotImplementedError

    def _on_imager(self, payload: bytes) -> None:
        event = parse_imager(payload)
        if event is None:
            return
        with self.lock:
            began = self.live.on_event(event)
            if began is None:
                return
            running = self._running
            if running is not None and not running.preempted:
                log.info("live: item %s gives way to %s", running.item.id, began.folder)
                running.preempted = True  # back to the queue's head, resumed after
                if running.in_engine:
                    self.engine.stop(wait=False)
            self.lock.notify_all()

    def _live_running(self, source: LiveFrames) -> LiveRunning:
        def waiting() -> list[str]:
            return [str(s.folder) for s in self.live.waiting]

        status = LiveStatus(self.publisher, source, waiting, self.data_root)
        return LiveRunning(source, status)

    def _run_live(self) -> None:
        running = self._live
        assert running is not None
        with self.lock:
            settings = self.defaults  # update_config applies from the next acquisition on
        try:
            summary = run_live(
                self.engine, running, settings, self.data_root, self.lock, self._beat
            )
            publish_summaries(self.publisher, [summary], self.data_root, None)
            self.uploads.after([summary])
        except Exception as exc:  # the service loop reports and carries on
            log.exception("live acquisition %s failed", running.source.folder)
            summary = AcquisitionSummary(
                str(running.source.folder), "failed", message=error_message(exc)
            )
        with self.lock:
            if self._abandoned:
                return
            stopped = summary.status == "interrupted" and not self._closing
            running.status.end(summary)
            self.live.finished(running.source, stopped=stopped)
            self._live = None
            log.info("live: %s %s", running.source.folder, summary.status)

    def _stop_live(self, running: LiveRunning) -> None:
        running.stops += 1
        if running.in_engine:
            self.engine.stop(wait=False)
