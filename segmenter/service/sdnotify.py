"""systemd notifications (READY, STOPPING, WATCHDOG) without a dependency.

Everything is a no-op when the process was not started by systemd (no NOTIFY_SOCKET).
A notification never blocks: it is one non-blocking datagram, dropped when the socket's
queue is full or nobody listens (the first failure is logged, the others only at DEBUG).
The watchdog pings only while the service makes progress: every busy thread beats a
`Heartbeat`, and a thread that stays busy without a beat for a watchdog period (a hung
command, a frame that never ends) stops the pings, so systemd restarts the service.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_failing = False  # the last notification failed: log the next failure only at DEBUG


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to systemd; False when it could not be sent."""
    global _failing
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
    try:
        with socket.socket(socket.AF_UNIX, kind) as sock:
            sock.sendto(state.encode("utf-8"), address)
    except OSError as exc:  # BlockingIOError when the queue is full: never wait
        level = logging.DEBUG if _failing else logging.WARNING
        log.log(level, "cannot notify systemd (%s): %s", state, exc)
        _failing = True
        return False
    if _failing:
        log.info("notifying systemd works again")
        _failing = False
    return True


def watchdog_period() -> float | None:
    """The WatchdogSec systemd asked for, in seconds; None when there is none."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6


class Heartbeat:
    """When each busy thread last showed progress. A thread waiting for work rests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._busy: dict[str, float] = {}
        self._lock = threading.Lock()

    def beat(self, name: str) -> None:
        """`name` is busy and just made progress."""
        with self._lock:
            self._busy[name] = self._clock()

    def rest(self, name: str) -> None:
        """`name` waits for work: nothing to show until it beats again."""
        with self._lock:
            self._busy.pop(name, None)

    def silent(self, longer_than: float) -> list[str]:
        """The busy threads whose last beat is older than `longer_than` seconds."""
        now = self._clock()
        with self._lock:
            return sorted(n for n, t in self._busy.items() if now - t > longer_than)


class Watchdog:
    """Pings systemd every half period while `healthy(period)` says so."""

    def __init__(self, healthy: Callable[[float], bool]) -> None:
        self.healthy = healthy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        period = watchdog_period()
        if period is None:
            return
        self._thread = threading.Thread(
            target=self._run, args=(period,), name="segmenter-watchdog", daemon=True
        )
        self._thread.start()

    def _run(self, period: float) -> None:
        missed = False
        while not self._stop.wait(period / 2):
            if self.healthy(period):
                notify("WATCHDOG=1")
                missed = False
            elif not missed:
                log.error("no progress for %g s: no watchdog ping, systemd will restart us", period)
                missed = True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
