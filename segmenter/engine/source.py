"""Where an acquisition's frames come from: all at once (a batch run), or one by one while
the imager writes them (live).

The frame loop (engine.frames) asks `refresh()` for news between completed futures: the
frames known so far only ever grow at the end, and `ended` says that no more will come.
A batch source is ended from the start. A live source learns of frames from a
`FrameFinder` (the folder watcher of segmenter.live) and from `nudge()`/`end()`, which the
MQTT thread calls when the imager speaks; it ends itself after `idle_timeout` seconds
without news. When it ends, every frame file in the folder it has not returned yet is
added, in name order: a frame that never completed then fails as truncated, named,
instead of being silently left out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from segmenter.acquisition import list_frames

POLL_INTERVAL = 0.2  # seconds between two looks at the folder, unless nudged


class FrameSource(Protocol):
    @property
    def frames(self) -> Sequence[Path]: ...

    @property
    def ended(self) -> bool: ...

    @property
    def live(self) -> bool: ...

    @property
    def announced(self) -> int | None:
        """How many frames the imager says there will be, when it says."""
        ...

    @property
    def end_reason(self) -> str | None: ...

    def refresh(self, timeout: float) -> bool:
        """Take the news, waiting up to `timeout` s for some; True when there was any."""
        ...


class BatchFrames:
    """The frames of a folder as listed when the run began."""

    live = False
    ended = True
    end_reason = None

    def __init__(self, frames: Sequence[Path]) -> None:
        self.frames = tuple(frames)
        self.announced: int | None = len(self.frames)

    def refresh(self, timeout: float) -> bool:
        return False


class FrameFinder(Protocol):
    def poll(self) -> list[Path]:
        """Frames that became complete since the last call, in acquisition order."""
        ...

    def expected(self) -> int | None: ...


class LiveFrames:
    """The frames of an acquisition being imaged. `refresh` runs on the engine's thread
    only; `nudge`, `announce` and `end` may come from any thread."""

    live = True

    def __init__(
        self,
        folder: Path,
        finder: FrameFinder,
        *,
        idle_timeout: float = 60.0,
        end_at_expected: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder, self.finder = folder, finder
        self.idle_timeout, self.end_at_expected = idle_timeout, end_at_expected
        self.clock = clock
        self._frames: list[Path] = []
        self._known: set[str] = set()
        self._cond = threading.Condition()
        self._nudged = False
        self._end_reason: str | None = None  # asked for by end(); applied by refresh
        self._ended = False
        self._announced: int | None = None
        self._last_news = clock()
        self._polled = -POLL_INTERVAL  # when the finder was last asked

    @property
    def frames(self) -> Sequence[Path]:
        return self._frames

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def end_reason(self) -> str | None:
        return self._end_reason if self._ended else None

    @property
    def announced(self) -> int | None:
        """The imager's total when it said one (it is what it will take), else
        metadata's acq_nb_frame."""
        return self._announced or self.finder.expected()

    # -- from any thread ---------------------------------------------------------------
    def nudge(self) -> None:
        """Something happened (the imager spoke): look now, and the imager is alive."""
        with self._cond:
            self._nudged = True
            self._last_news = self.clock()
            self._cond.notify_all()

    def announce(self, total: int) -> None:
        """The imager said how many frames it will take."""
        if total > 0:
            self._announced = total
        self.nudge()

    def end(self, reason: str) -> None:
        """No more frames will come (the imager ended, or a person said so)."""
        with self._cond:
            if self._end_reason is None:
                self._end_reason = reason
            self._nudged = True
            self._cond.notify_all()

    # -- the engine's thread -------------------------------------------------------------
    def refresh(self, timeout: float) -> bool:
        if self._ended:
            return False
        if timeout <= 0 and not self._nudged and self.clock() - self._polled < POLL_INTERVAL:
            return False  # the loop asks between futures: look at the folder 5 times a second
        self._polled = self.clock()
        with self._cond:
            self._nudged = False  # a nudge from now on is news for the wait below
        news = self._take(self.finder.poll())
        if not news and self._end_reason is None and timeout > 0:
            with self._cond:
                if not self._nudged:
                    self._cond.wait(timeout)
                self._nudged = False
            news = self._take(self.finder.poll())
        now = self.clock()
        with self._cond:
            if news:
                self._last_news = now
            expected = self.announced if self.end_at_expected else None
            if self._end_reason is None and expected is not None and len(self._frames) >= expected:
                self._end_reason = f"all {expected} frames announced are in"
            if self._end_reason is None and now - self._last_news >= self.idle_timeout:
                self._end_reason = (
                    f"no new frame for {self.idle_timeout:g} s: finished with what is there"
                )
            ending = self._end_reason is not None
        if ending:
            self._take(self.finder.poll())
            self._take(list_frames(self.folder))  # frames that never completed fail, named
            self._ended = True
            return True
        return bool(news)

    def _take(self, frames: Sequence[Path]) -> bool:
        added = False
        for path in frames:
            if path.name not in self._known:
                self._known.add(path.name)
                self._frames.append(path)
                added = True
        return added
