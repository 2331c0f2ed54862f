"""Live segmentation in the service: following the imager, and what is said about it.

`LiveFollower` turns imager events (imager.py) into live acquisitions: the first frame
of a folder makes a `LiveFrames` source for it, queued behind any live acquisition still
being finished; later frames nudge it; the imager's end (Done, Interrupted, not captured,
or another acquisition starting) ends it. The folders being followed are saved in
`<data root>/.segmenter/live.json`, so that a restarted service resumes them from their
journal. Called under the service's lock only.

`LiveStatus` publishes a live acquisition's state, retained, on `status/segmenter/live`
(never on the dashboard's `status/segmenter`).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from segmenter.acquisition import METADATA
from segmenter.engine import AcquisitionSummary, Progress
from segmenter.engine.source import FrameFinder, LiveFrames
from segmenter.live.imager import END_REASONS, ImagerEvent, Kind
from segmenter.service.progress import Publisher, below_img, publish_warnings
from segmenter.service.status import encode, public_text
from streamer.files import atomic_write

log = logging.getLogger(__name__)

LIVE_TOPIC = "status/segmenter/live"
STATE_FILE = Path(".segmenter") / "live.json"
MIN_INTERVAL = 0.2  # seconds between two live statuses of the same state

FinderFactory = Callable[[Path], FrameFinder]


class LiveFollower:
    def __init__(self, data_root: Path, make_finder: FinderFactory, idle_timeout: float) -> None:
        self.img_root = (data_root / "img").resolve()
        self.path = data_root / STATE_FILE
        self.make_finder, self.idle_timeout = make_finder, idle_timeout
        self.enabled = True
        self.waiting: deque[LiveFrames] = deque()  # in the order the imager began them
        self.running: LiveFrames | None = None
        self.imaging: LiveFrames | None = None  # the one the imager writes now
        self.stopped: set[Path] = set()  # stopped by a person: its events are ignored
        self.ignored: set[str] = set()  # folders whose frames were said to be ignored

    # -- imager events -------------------------------------------------------------
    def on_event(self, event: ImagerEvent) -> LiveFrames | None:
        """Act on an imager event; returns a source that has just begun."""
        if event.kind is Kind.STARTED:
            self._end_imaging("the imager began another acquisition")
            return None
        if event.kind is not Kind.FRAME:
            self._end_imaging(END_REASONS[event.kind])
            return None
        folder = self._folder(event)
        if folder is None:
            return None
        source = self._find(folder)
        if source is None:
            if not self.enabled or folder in self.stopped or (folder / "done.txt").exists():
                return None
            self._end_imaging("the imager began another acquisition")
            source = self._new(folder)
            log.info("live: following %s", folder)
            began: LiveFrames | None = source
        else:
            began = None
        self.imaging = source
        if event.total:
            source.announce(event.total)
        else:
            source.nudge()
        return began

    def _end_imaging(self, reason: str) -> None:
        if self.imaging is not None:
            self.imaging.end(reason)
            self.imaging = None

    def _folder(self, event: ImagerEvent) -> Path | None:
        folder = event.folder
        try:
            resolved = folder.resolve(strict=True) if folder else None
        except OSError:
            resolved = None
        if resolved is None or not resolved.is_relative_to(self.img_root):
            self._ignore(folder, f"outside {self.img_root}")
            return None
        if not (resolved / METADATA).is_file():
            self._ignore(resolved, f"without {METADATA}")
            return None
        return resolved

    def _ignore(self, folder: Path | None, why: str) -> None:
        """Warn once per folder (an acquisition is hundreds of frames), then at DEBUG."""
        key = f"{folder}: {why}"
        if key in self.ignored:
            log.debug("live: ignoring a frame of %s (%s)", folder, why)
            return
        if len(self.ignored) < 1000:
            self.ignored.add(key)
        log.warning("live: ignoring the frames of %s, %s", folder, why)

    def _find(self, folder: Path) -> LiveFrames | None:
        for source in (self.running, *self.waiting):
            if source is not None and source.folder == folder:
                return source
        return None

    def _new(self, folder: Path) -> LiveFrames:
        source = LiveFrames(folder, self.make_finder(folder), self.idle_timeout, True)
        self.waiting.append(source)
        self.save()
        return source

    # -- the worker's side -----------------------------------------------------------
    def take(self) -> LiveFrames | None:
        """The next live acquisition to run, now running."""
        if self.running is None and self.waiting:
            self.running = self.waiting.popleft()
        return self.running

    def finished(self, source: LiveFrames, stopped: bool) -> None:
        if stopped:
            self.stopped.add(source.folder)
            if self.imaging is source:
                self.imaging = None
        if self.running is source:
            self.running = None
        self.save()

    def stop_waiting(self) -> list[LiveFrames]:
        """A stop of live work: the ones not begun are dropped (the running one is the
        caller's to stop)."""
        dropped = list(self.waiting)
        self.waiting.clear()
        for source in dropped:
            self.finished(source, stopped=True)
        return dropped

    # -- persistence -----------------------------------------------------------------
    def save(self) -> None:
        folders = [str(s.folder) for s in (self.running, *self.waiting) if s is not None]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps({"following": folders}).encode(), durable=True)

    def load(self) -> list[Path]:
        """Resume the acquisitions a previous run was following (done ones aside)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            folders = [Path(f) for f in data["following"] if isinstance(f, str)]
        except (OSError, ValueError, KeyError, TypeError):
            return []
        resumed = []
        for folder in folders:
            if (folder / METADATA).is_file() and not (folder / "done.txt").exists():
                self._new(folder)
                resumed.append(folder)
        self.save()
        return resumed


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
        waiting: Callable[[], list[str]],
        data_root: Path,
    ) -> None:
        self.publisher, self.source, self.waiting = publisher, source, waiting
        self.data_root = data_root  # published paths are relative to it
        self.last: LiveMessage = LiveMessage(str(source.folder), "waiting")
        self._sent_at = 0.0
        self.warned = 0  # QC warnings published on their topic

    def __call__(self, event: Progress) -> None:
        live = event.live
        if live is None:
            return
        if event.phase == "start":
            self.warned = len(event.warnings)  # a resumed run's were said by its first run
        new = len(event.warnings) > self.warned
        rel = below_img(event.acquisition, self.data_root)
        self.warned = publish_warnings(self.publisher, event, self.warned, None, rel)
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
