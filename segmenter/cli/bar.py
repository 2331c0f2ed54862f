"""A terminal progress bar fed by Progress events (frames, objects, rate, ETA)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from segmenter.engine.events import Progress

BAR = 24


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h"


class TerminalBar:
    """Redraws one line on stderr at most 10 times a second; newline per acquisition."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self._last = 0.0
        self._first_done: int | None = None
        self._first_time = 0.0

    def __call__(self, event: Progress) -> None:
        now = time.monotonic()
        if event.phase == "start":
            self._first_done, self._first_time = event.done, now
        final = event.phase == "archive"
        if not final and now - self._last < 0.1 and event.done < event.total:
            return
        self._last = now
        self.stream.write("\r" + self.line(event, now) + ("\n" if final else ""))
        self.stream.flush()

    def line(self, event: Progress, now: float) -> str:
        new = event.done - (self._first_done or 0)
        spent = now - self._first_time
        rate = new / spent if spent > 0 and new > 0 else None
        eta = (event.total - event.done) / rate if rate else None
        label = {"flat": "flat field", "archive": "archive"}.get(event.phase, "")
        if event.live is not None and event.phase not in ("flat", "archive"):
            lag = f" ({event.live.lag} behind)" if event.live.lag > 1 else ""
            label = f"live: {event.live.state}{lag}"
        return bar_line(
            event.acquisition.name, event.done, event.total, event.objects, rate, eta,
            event.failed, label,
        )  # fmt: skip


def bar_line(
    name: str,
    done: int,
    total: int,
    objects: int,
    rate: float | None,
    eta_s: float | None,
    failed: int = 0,
    label: str = "",
) -> str:
    """One progress line: the CLI's bar and `segmenter send`'s draw the same."""
    filled = BAR * min(done, max(1, total)) // max(1, total)
    bar = "#" * filled + "." * (BAR - filled)
    eta = _clock(eta_s) if eta_s is not None else "--:--"
    speed = f"{rate:4.1f} fr/s" if rate else "  -- fr/s"
    failures = f"  {failed} failed" if failed else ""
    return (
        f"{name[-28:]:<28} [{bar}] {done}/{total} frames  {objects} objects"
        f"  {speed}  ETA {eta}{failures} {label}"
    ).ljust(110)
