"""A bounded FIFO between a producer thread that must not do the work (paho's network
thread) and the one thread that does it.

Bounded by count and by size: a full inbox holds the producer back (paho then stops
reading the socket, and the broker keeps the rest) instead of dropping anything or
growing without limit. An empty inbox takes any one message, however large.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self, max_items: int = 1000, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()

    def _full(self, size: int) -> bool:
        if not self._items:
            return False
        return len(self._items) >= self.max_items or self._bytes + size > self.max_bytes

    def put(self, item: T, size: int, timeout: float | None = None) -> bool:
        """Add `item` (of `size` bytes), waiting while full; False if closed or timed out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed and self._full(size):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
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
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Refuse new items and wake every waiter; what is inside can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
