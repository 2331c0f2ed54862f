"""The MQTT transport: a thin paho-mqtt 2 adapter (callback API version 2).

It owns the connection (credentials, TLS, Last Will `{"status": "Dead"}`), reconnects
with backoff and resubscribes after a broker restart, hands each command payload to the
service (which only queues it: paho's network thread never waits on the service, or
keepalives would stop and the broker would publish `Dead`; while the service's inbox is
full, the acknowledgements of QoS 1/2 messages are held back, which stops the broker
sending more: `flow`), and
publishes what the service gives it through one publisher thread (outbox.py), in order
(where the broker is and how to log in: broker.py).
Retained state (queue, progress) goes out at QoS 0 and is republished on every connect,
so a stale copy queued during an outage can never overwrite a newer one; the legacy
statuses and the replies go out at QoS 1, are never dropped, and are delivered after a
reconnect.
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from segmenter.live.imager import TOPIC as IMAGER_TOPIC
from segmenter.service import broker_errors
from segmenter.service.broker import BrokerSettings
from segmenter.service.outbox import Outbox, Outgoing
from segmenter.service.status import (
    COMMAND_TOPIC,
    STATUS_TOPIC,
    Status,
    StatusMessage,
    encode,
)

log = logging.getLogger(__name__)

REPEAT_WARNING = 300.0  # seconds: while the broker stays away, say so again this often


class FlowControl(Protocol):
    """What the transport asks of the service's inbox (inbox.py)."""

    def has_room(self) -> bool: ...

    def overflowing(self) -> bool: ...


class MqttTransport:
    """One paho client, started with `start()`, ended with `close()`."""

    def __init__(
        self,
        settings: BrokerSettings,
        client_id: str,
        *,
        on_command: Callable[[bytes], None] | None = None,
        on_connected: Callable[[bool], None] | None = None,
        will: bool = True,
        subscriptions: tuple[str, ...] = ("segmenter/#", IMAGER_TOPIC),
        on_message: Callable[[str, bytes, bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_command, self.on_connected, self.on_message = on_command, on_connected, on_message
        self.subscriptions = subscriptions
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker acknowledged our subscriptions
        self.failed = threading.Event()  # a connection attempt failed (see last_error)
        self.last_error: str | None = None
        self._warned: tuple[str, float] | None = None  # (reason, when) of the last warning
        self._connects = 0
        self._refused = False  # the broker refused this attempt (CONNACK)
        self._closing = False  # close() called: a disconnect is ours, not news
        self.flow: FlowControl | None = None  # the service's inbox: acks wait while full
        self._held: deque[tuple[int, int]] = deque()  # (mid, qos) not acknowledged yet
        self._ack_lock = threading.Lock()
        self._dropped = 0  # QoS 0 messages dropped past the inbox's hard bound
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        client.manual_ack_set(True)  # acknowledged by _ack(), held while the inbox is full
        if will:
            client.will_set(STATUS_TOPIC, encode(StatusMessage(Status.DEAD)), qos=1)
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set(ca_certs=settings.ca, certfile=settings.cert, keyfile=settings.key)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(0)  # no limit in paho: the outbox keeps the window
        client.max_inflight_messages_set(0)  # QoS 1 never waits behind a window: order kept
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_args: self.subscribed.set()
        self.outbox = Outbox(client)
        client.on_publish = lambda _c, _u, mid, *_rest: self.outbox.acknowledged(mid)
        self.client = client

    def start(self) -> None:
        """Connect in the background; retries until the broker answers."""
        self.outbox.start()
        self.client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive)
        self.client.loop_start()

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self.connected.wait(timeout)

    def wait_connected_or_failed(self, timeout: float) -> bool:
        """True once connected; False at the first failed attempt or after `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.connected.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if self.failed.is_set() or time.monotonic() >= deadline:
                return False
        return True

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        """Hand a message to the publisher thread; never blocks, never drops QoS 1."""
        self.outbox.put(Outgoing(topic, payload, qos, retain))

    def close(self, dead: bool = True, timeout: float = 3.0) -> None:
        """Deliver what is queued, then `Dead` (when asked and connected); disconnect."""
        if self.connected.is_set():
            if dead:
                self.publish(STATUS_TOPIC, encode(StatusMessage(Status.DEAD)), qos=1)
            if not self.outbox.flush(timeout):
                log.warning("could not deliver every message within %g s", timeout)
        self.outbox.close()
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks (network thread) ---------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            self._refused = True  # the disconnect that follows is this, not news
            self._connect_failed(broker_errors.refusal(str(reason), self.settings.username))
            return
        self._connects += 1
        self._warned = None
        with self._ack_lock:
            self._held.clear()  # a clean session: the broker forgot those messages
        log.info("connected to the MQTT broker at %s", self.address)
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        self.connected.set()
        if self.on_connected is not None:
            self.on_connected(self._connects == 1)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        # paho calls this inside its `except OSError` around the attempt: the reason is
        # the exception being handled
        exc = sys.exc_info()[1]
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc or "")
        if isinstance(exc, ssl.SSLError) and self.settings.tls:
            reason = broker_errors.tls_failed(reason, self.settings.port)
        self._connect_failed(reason or "no reason given")

    def _connect_failed(self, reason: str) -> None:
        """Log a failed attempt at WARNING (again when the reason changes, or every
        REPEAT_WARNING seconds while it lasts); paho retries with backoff."""
        self.last_error = reason
        self.failed.set()
        now = time.monotonic()
        repeat = self._warned is not None and self._warned[0] == reason
        if repeat and self._warned is not None and now - self._warned[1] < REPEAT_WARNING:
            log.debug("cannot reach the MQTT broker at %s (%s); retrying", self.address, reason)
            return
        self._warned = (reason, now)
        log.warning("cannot reach the MQTT broker at %s (%s); retrying", self.address, reason)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self.subscribed.clear()
        if self._closing:
            return
        if not was_connected:  # the end of an attempt that never connected
            refused, self._refused = self._refused, False
            if not refused:
                reason = broker_errors.closed_unanswered(self.settings.port, self.settings.tls)
                self._connect_failed(reason)
        elif reason.is_failure:
            log.warning("lost the MQTT broker at %s (%s); reconnecting", self.address, reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.qos == 0 and self.flow is not None and self.flow.overflowing():
            self._dropped += 1  # nothing holds QoS 0 back: past the hard bound, drop it
            if self._dropped % 1000 == 1:
                log.warning("the service is far behind: %d QoS 0 messages dropped", self._dropped)
            return
        payload = bytes(msg.payload)
        try:
            if self.on_message is not None:
                self.on_message(msg.topic, payload, bool(msg.retain))
            if self.on_command is None:
                return
            if msg.topic != COMMAND_TOPIC:
                log.debug("ignoring a message on %s", msg.topic)
            elif msg.retain:
                log.warning("ignoring a retained command on %s (it would replay)", msg.topic)
            else:
                self.on_command(payload)
        except Exception:  # never let a handler kill the network thread
            log.exception("handling a message on %s failed", msg.topic)
        finally:
            self._ack(msg.mid, msg.qos)

    def _ack(self, mid: int, qos: int) -> None:
        """Acknowledge now, or hold it (and every later one: acks go in order) while the
        inbox is full; the broker sends no more than its in-flight window meanwhile."""
        if qos == 0:
            return
        with self._ack_lock:
            if self._held or (self.flow is not None and not self.flow.has_room()):
                self._held.append((mid, qos))
                return
        self.client.ack(mid, qos)

    def release_acks(self) -> None:
        """The inbox has room again (its consumer's thread): send the held acks."""
        with self._ack_lock:
            if not self._held:
                return
            held, self._held = self._held, deque()
            for mid, qos in held:
                self.client.ack(mid, qos)


def client_id(role: str) -> str:
    return f"segmenter-{role}-{os.uname().nodename}-{os.getpid()}"
