"""The command thread's loop: what arrives from the transport, in order, and what it
owes after each batch.

A batch owes the queue's save and publish (each is the whole queue) if a command changed
it, and the replies, which wait for that save. Under a burst they go out at most every
FLUSH_EVERY seconds instead of once per command, so that a command costs the same
however long the queue is; a lone command is answered at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from segmenter.service.inbox import Inbox

FLUSH_EVERY = 0.2  # seconds


@dataclass(frozen=True, slots=True)
class Received:
    """A command payload from the transport."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class FromImager:
    """A payload the imager published on status/imager."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Connected:
    """The transport (re)connected; `first` the first time since start."""

    first: bool


Arrival = Received | FromImager | Connected


class Batch:
    """What is owed since the last flush. Not thread-safe: the service's lock guards it."""

    def __init__(self, every: float = FLUSH_EVERY) -> None:
        self.every = every
        self.changed = False  # the queue changed since it was last saved and published
        self.replies: list[bytes] = []
        self._flushed_at = 0.0

    def due_in(self) -> float | None:
        """Seconds until what is owed is due out (0: now); None when nothing is owed."""
        if not self.changed and not self.replies:
            return None
        return max(0.0, self._flushed_at + self.every - time.monotonic())

    def take(self) -> tuple[bool, list[bytes]]:
        """(whether the queue changed, the replies), from now on counted as sent."""
        changed, replies = self.changed, self.replies
        self.changed, self.replies, self._flushed_at = False, [], time.monotonic()
        return changed, replies


def act(
    inbox: Inbox[Arrival],
    batch: Batch,
    lock: threading.Condition,
    handle: Callable[[Arrival], None],
    flush: Callable[[], None],
) -> None:
    """Handle everything that arrives, in order, and `flush` (under `lock`) what a batch
    owes once it is due; return once the inbox is closed and empty."""
    while True:
        with lock:
            wait = batch.due_in()
        message = inbox.get(wait)
        if message is not None:
            handle(message)
        with lock:
            if message is None or batch.due_in() == 0:
                flush()
        if message is None and inbox.closed:
            return
