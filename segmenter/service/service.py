"""The service: commands in, one worker thread running the work, statuses out.

The transport's callbacks only put what arrives into the inbox, never waiting (`receive`,
`connected`, `message`); one command thread (actor.py) takes it from there and acts under
a short lock: the commands (handlers.py), the imager's messages (follower.py). It never
waits for segmentation. One worker thread (worker_thread.py) runs live acquisitions and
queue items through the blocking engine, each as an `EngineJob` (job.py). Everything is
published through the transport's one publisher, in the order it was handed over.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from segmenter.engine import Segmenter
from segmenter.live.imager import TOPIC as IMAGER_TOPIC
from segmenter.live.imager import parse_imager
from segmenter.service.actor import Arrival, Batch, Connected, FromImager, Received, act
from segmenter.service.commands import MAX_PAYLOAD
from segmenter.service.dashboard_stream import DashboardStream
from segmenter.service.follower import Beating, FinderFactory, LiveFollower, folder_watcher
from segmenter.service.handlers import CommandHandlers
from segmenter.service.inbox import Inbox
from segmenter.service.mqtt import MqttTransport
from segmenter.service.progress import Publisher
from segmenter.service.queue import JobQueue
from segmenter.service.sdnotify import Heartbeat
from segmenter.service.status import (
    QUEUE_TOPIC,
    REPLY_TOPIC,
    STATUS_TOPIC,
    QueueMessage,
    Status,
    StatusMessage,
    encode,
    public_item,
)
from segmenter.service.uploads import ServiceUploads
from segmenter.service.worker_thread import WorkerThread
from segmenter.settings import RunSettings

log = logging.getLogger(__name__)
WORKER, COMMANDS = "worker thread", "command thread"  # their names for the heartbeat


class Service:
    """The segmenter service: owns the queue and its threads, not the transport."""

    def __init__(
        self,
        data_root: Path,
        engine: Segmenter,
        *,
        publisher: Publisher,
        defaults: RunSettings,
        live: bool = True,
        idle_timeout: float = 60.0,
        make_finder: FinderFactory | None = None,
        uploads: ServiceUploads | None = None,
    ) -> None:
        self.data_root = data_root.resolve()
        self.publisher = publisher
        self.queue = JobQueue(self.data_root)
        self.lock = threading.Condition()
        self.batch = Batch()  # what the command thread owes: the queue's save, replies
        self.heartbeat = Heartbeat()
        finder = make_finder or folder_watcher
        self.follower = LiveFollower(
            self.data_root, lambda folder: Beating(finder(folder), self._beat), idle_timeout
        )
        self.follower.enabled = live
        self.uploads = uploads or ServiceUploads(self.data_root, None, publisher)
        self.worker = WorkerThread(
            engine, self.data_root, lock=self.lock, publisher=publisher, defaults=defaults,
            queue=self.queue, dashboard=DashboardStream(self._status), follower=self.follower,
            uploads=self.uploads, changed=self._changed, beat=self._beat,
            rest=lambda: self.heartbeat.rest(WORKER),
        )  # fmt: skip
        self.commands = CommandHandlers(
            self.data_root, self.worker, lock=self.lock, batch=self.batch, status=self._status
        )
        self.inbox: Inbox[Arrival] = Inbox()
        commands = (self.inbox, self.batch, self.lock, self._handle, self._flush)
        self._actor = threading.Thread(
            target=act, args=commands, name="segmenter-commands", daemon=True
        )

    # -- life cycle ------------------------------------------------------------------
    def start(self) -> None:
        """Load the saved queue and start the threads (the worker waits for a connect).
        Items loaded from disk are not units of this run's dashboard stream: the dashboard
        that sent them got `Interrupted` or `Dead` when the service went away."""
        for item in self.queue.load():
            log.info("item %s resumes (%s)", item.id, ", ".join(item.paths))
        self.queue.save()
        if self.follower.enabled:
            for folder in self.follower.load():
                log.info("live: %s resumes from its journal", folder)
        self.worker.start()
        self._actor.start()
        self.uploads.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread to end; True if it did."""
        return self.worker.join(timeout)

    def alive(self) -> bool:
        return self.worker.is_alive() and self._actor.is_alive()

    def healthy(self, period: float) -> bool:
        """Alive, and no busy thread went `period` seconds without progress (watchdog)."""
        silent = self.heartbeat.silent(period)
        if silent:
            log.debug("no progress for %g s in the %s", period, ", ".join(silent))
        return self.alive() and not silent

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop like a `stop` (the item resumes at the next start); True if the worker ended."""
        with self.lock:
            self.worker.close()
        ended = self.join(timeout)
        if not ended:
            with self.lock:
                self.worker.abandon()
        self.inbox.close()
        self._actor.join(5)
        self.uploads.shutdown()
        return ended

    # -- transport callbacks (paho's network thread): queue and return, never wait -----
    def receive(self, payload: bytes) -> None:
        """A command payload arrived: into the inbox (the transport holds the broker back
        while the inbox is full)."""
        payload = payload[: MAX_PAYLOAD + 1]  # the parser refuses anything longer
        if not self.inbox.put(Received(payload), len(payload)):
            log.warning("the service is closing: a command was not handled")

    def message(self, topic: str, payload: bytes, retained: bool) -> None:
        """Any message the transport got: the imager's (retained ones are old news) are
        followed; the commands come through `receive`."""
        if topic != IMAGER_TOPIC or retained:
            return
        if not self.inbox.put(FromImager(payload[:MAX_PAYLOAD]), len(payload)):
            log.warning("the service is closing: an imager message was not handled")

    def attach(self, transport: MqttTransport) -> None:
        """Take commands, connects and the imager's messages from `transport`."""
        transport.on_command = self.receive
        transport.on_connected = self.connected
        transport.on_message = self.message
        transport.flow = self.inbox
        self.inbox.on_room = transport.release_acks

    def connected(self, first: bool) -> None:
        self.inbox.put(Connected(first), 0)

    # -- command thread (actor.act) ---------------------------------------------------
    def _handle(self, message: Arrival) -> None:
        self.heartbeat.beat(COMMANDS)
        try:
            if isinstance(message, Received):
                self.commands.handle_payload(message.payload)
            elif isinstance(message, FromImager):
                self._on_imager(message.payload)
            else:
                self._on_connected(message.first)
        except Exception:  # the service loop reports and carries on
            log.exception("handling a message failed")
        finally:
            self.heartbeat.rest(COMMANDS)

    def _on_imager(self, payload: bytes) -> None:
        event = parse_imager(payload)
        if event is not None:
            with self.lock:
                self.worker.imager(event)

    def _on_connected(self, first: bool) -> None:
        """Republish the retained state; Ready the first time."""
        with self.lock:
            if first:
                self._status(Status.READY)
            self._publish_queue()
            self.worker.republish()
            self.worker.go()

    def _beat(self) -> None:
        self.heartbeat.beat(WORKER)

    # -- publishing (always under the lock, so statuses keep their order) -------------
    def _changed(self) -> None:
        """The queue changed (the worker's side): save and publish it now."""
        self.batch.changed = True
        self._flush()

    def _flush(self) -> None:
        """Save and publish the queue if it changed, then send the replies waiting."""
        changed, replies = self.batch.take()
        if changed and not self.worker.abandoned:
            items = self.queue.snapshot_items()
            self.queue.save(items)
            self._publish_queue(items)
        for reply in replies:
            self.publisher.publish(REPLY_TOPIC, reply, qos=1)

    def _publish_queue(self, items: list[dict[str, Any]] | None = None) -> None:
        running = self.worker.item.item.id if self.worker.item else None
        items = self.queue.snapshot_items() if items is None else items
        items = [public_item(i, self.data_root) for i in items]
        message = QueueMessage(self.queue.paused, running, items)
        self.publisher.publish(QUEUE_TOPIC, encode(message), retain=True)

    def _status(self, text: str) -> None:
        """`text` on status/segmenter (the dashboard's stream)."""
        self.publisher.publish(STATUS_TOPIC, encode(StatusMessage(str(text))), qos=1)
