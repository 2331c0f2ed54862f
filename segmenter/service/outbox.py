"""The one publisher: every message the service sends goes through this thread, in the
order it was handed over, so no service thread ever waits on the network.

paho refuses a publish when too many QoS 1 messages wait for their acknowledgement
(`max_queued_messages`): the transport lets paho queue without a limit and this thread
keeps the number of unacknowledged QoS 1 messages under `window` by waiting for
acknowledgements, never by dropping. QoS 0 messages published while disconnected are
dropped by paho, as they should be (retained state is republished on every connect).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

log = logging.getLogger(__name__)

WINDOW = 1000  # QoS 1 messages in paho waiting for their acknowledgement


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    def __init__(self, client: mqtt.Client, window: int = WINDOW) -> None:
        self.client, self.window = client, window
        self._queue: deque[Outgoing] = deque()
        self._unacked: set[int] = set()  # mids of QoS 1 messages not acknowledged yet
        self._early: set[int] = set()  # acknowledged before publish() returned their mid
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="segmenter-publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, message: Outgoing) -> None:
        """Queue `message` for publishing; never blocks."""
        with self._cond:
            if self._closed:
                log.debug("publisher closed: %s not sent", message.topic)
                return
            self._queue.append(message)
            self._cond.notify_all()

    def acknowledged(self, mid: int) -> None:
        """paho's on_publish (network thread): the broker has message `mid`."""
        with self._cond:
            if mid in self._unacked:
                self._unacked.discard(mid)
            else:
                self._early.add(mid)
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued is published and acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy or self._unacked:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(5)

    def _next(self) -> Outgoing | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            message = self._queue[0]
            while message.qos > 0 and len(self._unacked) >= self.window and not self._closed:
                self._cond.wait()  # the broker has not caught up: wait, drop nothing
            self._queue.popleft()
            self._busy = True
            return message

    def _run(self) -> None:
        while (message := self._next()) is not None:
            try:
                self._publish(message)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _publish(self, message: Outgoing) -> None:
        try:
            info = self.client.publish(
                message.topic, message.payload, qos=message.qos, retain=message.retain
            )
        except (ValueError, OSError) as exc:  # never let a publish take the service down
            log.warning("cannot publish to %s: %s", message.topic, exc)
            return
        kept = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)
        if info.rc not in kept:
            log.warning("publish to %s failed: %s", message.topic, mqtt.error_string(info.rc))
            return
        if message.qos > 0:  # kept by paho until acknowledged, also across a reconnect
            with self._cond:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                else:
                    self._unacked.add(info.mid)
