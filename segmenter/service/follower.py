"""Following the imager: its events in, live acquisitions out, for the worker thread.

`LiveFollower` turns imager events (segmenter/live/imager.py) into live acquisitions: the
first frame of a folder makes a `LiveFrames` source for it, queued behind any live
acquisition still being finished; later frames nudge it; the imager's end (Done,
Interrupted, not captured, or another acquisition starting) ends it. The folders being
followed are saved in `<data root>/.segmenter/live.json`, so that a restarted service
resumes them from their journal. Called under the service's lock only.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path

from segmenter.acquisition import METADATA
from segmenter.engine.source import FrameFinder, LiveFrames
from segmenter.live.imager import END_REASONS, ImagerEvent, Kind
from segmenter.live.watch import FolderWatcher
from streamer.files import atomic_write

log = logging.getLogger(__name__)

STATE_FILE = Path(".segmenter") / "live.json"

FinderFactory = Callable[[Path], FrameFinder]


def folder_watcher(folder: Path) -> FrameFinder:
    """The frame finder of a live acquisition unless a test hands its own."""
    return FolderWatcher(folder)


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
        source = LiveFrames(
            folder, self.make_finder(folder), idle_timeout=self.idle_timeout, end_at_expected=True
        )
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
