"""A FIFO between a producer thread that must never wait (paho's network thread: while
it waits, no keepalive goes out and the broker publishes our Last Will `Dead`) and the
one thread that does the work.

`put` never blocks. The bound (by count and by size) is a signal, not a wall: while the
inbox is full, the transport holds back its acknowledgements of QoS 1/2 messages, so the
broker stops sending more (its in-flight window) and keeps the rest; `on_room` tells it
when the consumer has made room again. Only QoS 0 messages, which the broker sends
regardless, can push past the bound, up to `hard_items`/`hard_bytes` (`overflowing`),
beyond which the transport drops them (at most once is what QoS 0 promises). An empty
inbox takes any one message, however large.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self, max_items: int = 1000, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self.hard_items, self.hard_bytes = 4 * max_items, 4 * max_bytes
        self.on_room: Callable[[], None] | None = None  # called by get() when not full
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()

    def _over(self, items: int, size: int, extra: int) -> bool:
        if not self._items:
            return False
        return len(self._items) >= items or self._bytes + extra > size

    def has_room(self, size: int = 0) -> bool:
        """Would an item of `size` bytes fit under the bound?"""
        with self._cond:
            return not self._over(self.max_items, self.max_bytes, size)

    def overflowing(self) -> bool:
        """Past the hard bound, which only messages nobody holds back can reach."""
        with self._cond:
            return self._over(self.hard_items, self.hard_bytes, 0)

    def put(self, item: T, size: int) -> bool:
        """Add `item` (of `size` bytes) at once, never waiting; False if closed."""
        with self._cond:
            if self._closed:
                return False
            self._items.append((item, size))
            self._bytes += size
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item; None after `timeout`, or once closed and empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                left = None if deadline is None else deadline - time.monotonic()
                if self._closed or (left is not None and left <= 0):
                    return None
                self._cond.wait(left)
            item, size = self._items.popleft()
            self._bytes -= size
            room = not self._over(self.max_items, self.max_bytes, 0)
        if room and self.on_room is not None:
            self.on_room()
        return item

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Refuse new items and wake every waiter; what is inside can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
