"""Runs one live acquisition through the blocking engine (the service's worker thread).

Like runner.py for queue items: a stop reaches the engine through
`Segmenter.stop(wait=False)` while `in_engine` is true; `run()` returning means the engine
is idle. Its statuses go on `status/segmenter/live` only (live.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from segmenter.engine import AcquisitionSummary, Progress, Segmenter
from segmenter.engine.source import FrameFinder, LiveFrames
from segmenter.service.live import LiveStatus
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
