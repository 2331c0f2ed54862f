"""The orchestrator: commands in, one worker thread running queue items, statuses out.

The transport's callbacks only put what arrives into the inbox, never waiting (`receive`,
`connected`); one command thread takes it from there and acts under a short lock
(handlers.py); it never waits for segmentation. One worker thread takes items one at a
time and runs them through the blocking `Segmenter.run` (see runner.py). Everything is
published through the transport's one publisher, in the order it was handed over.

On `status/segmenter` (legacy.py) each `segment` command is a unit of work with exactly
one terminal status, published by the worker once `Segmenter.run` returned (the engine
idle, files consistent): `Done`, `Interrupted` when a stop reached it, or an error. Work
that came another way is reported on the service's own topics only.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from segmenter.engine import Segmenter
from segmenter.live.imager import TOPIC as IMAGER_TOPIC
from segmenter.live.watch import FolderWatcher
from segmenter.service.actor import Arrival, Batch, Connected, FromImager, Received, act
from segmenter.service.commands import MAX_PAYLOAD
from segmenter.service.handlers import CommandHandlers
from segmenter.service.inbox import Inbox
from segmenter.service.legacy import LegacyStream
from segmenter.service.live import FinderFactory, LiveFollower
from segmenter.service.live_run import Beating, LiveRunning, LiveWork
from segmenter.service.mqtt import MqttTransport
from segmenter.service.progress import Publisher
from segmenter.service.queue import ItemState, JobQueue
from segmenter.service.runner import ItemRunner, Outcome, Running
from segmenter.service.sdnotify import Heartbeat
from segmenter.service.status import (
    PROGRESS_TOPIC,
    QUEUE_TOPIC,
    REPLY_TOPIC,
    ProgressMessage,
    QueueMessage,
    Status,
    encode,
    exception_text,
    public_item,
    public_text,
)
from segmenter.service.uploads import ServiceUploads
from segmenter.settings import RunSettings

log = logging.getLogger(__name__)
WORKER, COMMANDS = "worker thread", "command thread"  # their names for the heartbeat


class Service(LiveWork, CommandHandlers):
    """The segmenter service: owns the queue and its threads, not the transport."""

    def __init__(
        self,
        data_root: Path,
        engine: Segmenter,
        publisher: Publisher,
        defaults: RunSettings,
        live: bool = True,
        idle_timeout: float = 60.0,
        make_finder: FinderFactory | None = None,
        uploads: ServiceUploads | None = None,
    ) -> None:
        self.data_root = data_root.resolve()
        self.engine, self.publisher, self.defaults = engine, publisher, defaults
        self.queue = JobQueue(self.data_root)
        self.legacy = LegacyStream(self._status)
        self.lock = threading.Condition()
        self._running: Running | None = None
        self._live: LiveRunning | None = None
        finder = make_finder or _folder_watcher
        self.live = LiveFollower(
            self.data_root, lambda folder: Beating(finder(folder), self._beat), idle_timeout
        )
        self.live.enabled = live
        self._closing = False
        self._abandoned = False  # shutdown gave up waiting: the saved queue stays as it is
        self._connected = threading.Event()
        self._last_progress = ProgressMessage(item=None, state="idle")
        self.batch = Batch()  # what the command thread owes: the queue's save, replies
        self.heartbeat = Heartbeat()
        self._runner = ItemRunner(
            engine, self.data_root, publisher, self.lock, self._changed, self._beat
        )
        self.uploads = uploads or ServiceUploads(self.data_root, None, publisher)
        self._runner.after = self.uploads.after
        self._thread = threading.Thread(target=self._loop, name="segmenter-worker", daemon=True)
        self.inbox: Inbox[Arrival] = Inbox()
        commands = (self.inbox, self.batch, self.lock, self._handle, self._flush)
        self._actor = threading.Thread(
            target=act, args=commands, name="segmenter-commands", daemon=True
        )

    # -- life cycle ------------------------------------------------------------------
    def start(self) -> None:
        """Load the saved queue and start the threads (the worker waits for a connect).
        Items loaded from disk are not units of this run's legacy stream: the dashboard
        that sent them got `Interrupted` or `Dead` when the service went away."""
        for item in self.queue.load():
            log.info("item %s resumes (%s)", item.id, ", ".join(item.paths))
        self.queue.save()
        if self.live.enabled:
            for folder in self.live.load():
                log.info("live: %s resumes from its journal", folder)
        self._thread.start()
        self._actor.start()
        self.uploads.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread to end; True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def alive(self) -> bool:
        return self._thread.is_alive() and self._actor.is_alive()

    def healthy(self, period: float) -> bool:
        """Alive, and no busy thread went `period` seconds without progress (watchdog)."""
        silent = self.heartbeat.silent(period)
        if silent:
            log.debug("no progress for %g s in the %s", period, ", ".join(silent))
        return self.alive() and not silent

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop like a `stop` (the item resumes at the next start); True if the worker ended."""
        with self.lock:
            self._closing = True
            if self._running is not None:
                self._request_stop(self._running)
            if self._live is not None:
                self._stop_live(self._live)
            self.lock.notify_all()
        self._connected.set()
        ended = self.join(timeout)
        if not ended:
            with self.lock:
                self._abandon()
        self.inbox.close()
        self._actor.join(5)
        self.uploads.shutdown()
        return ended

    def _abandon(self) -> None:
        """The running item did not stop in time and the engine may now fail under it (its
        pool is closed next): keep it as saved, running, so that it resumes at the next
        start, and ignore whatever the worker thread reports from now on."""
        if self._running is None:
            return
        item = self._running.item
        log.warning("item %s did not stop in time; it resumes at the next start", item.id)
        self.queue.save()
        self._abandoned = True
        self.legacy.end(item.id, Status.INTERRUPTED)

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
                self.handle_payload(message.payload)
            elif isinstance(message, FromImager):
                self._on_imager(message.payload)
            else:
                self._on_connected(message.first)
        except Exception:  # the service loop reports and carries on
            log.exception("handling a message failed")
        finally:
            self.heartbeat.rest(COMMANDS)

    def _on_connected(self, first: bool) -> None:
        """Republish the retained state; Ready the first time."""
        with self.lock:
            if first:
                self._status(Status.READY)
            self._publish_queue()
            tracker = self._running.tracker if self._running else None
            last = tracker.last if tracker and tracker.last else self._last_progress
            self.publisher.publish(PROGRESS_TOPIC, encode(last), retain=True)
            if self._live is not None:
                self._live.status.republish()
            self._connected.set()

    # -- worker thread ---------------------------------------------------------------
    def _beat(self) -> None:
        self.heartbeat.beat(WORKER)

    def _loop(self) -> None:
        self._connected.wait()
        while True:
            with self.lock:
                self.heartbeat.rest(WORKER)
                while not self._closing and not self.live.take() and not self.queue.runnable():
                    self.lock.wait()
                if self._closing:
                    return
                self._beat()
                source = self.live.take()  # live frames first
                if source is not None:
                    self._live = self._live_running(source)
                else:
                    item = self.queue.take_next()
                    assert item is not None
                    running = self._running = Running(item, legacy=self.legacy.owns(item.id))
                    self._changed()
                    self.legacy.start(item.id)
            if source is not None:
                self._run_live()
                continue
            outcome = self._runner.run(running)
            with self.lock:
                workers = self.defaults.worker_count
            self.engine.ensure_workers(workers)  # an item's own count does not outlive it
            with self.lock:
                self._finish(running, outcome)

    def _finish(self, running: Running, outcome: Outcome) -> None:
        if self._abandoned:
            return
        item = running.item
        gave_way = running.preempted and not running.stops and not self._closing
        if outcome.state is ItemState.INTERRUPTED and gave_way:
            self.queue.requeue(item)  # it gave way to a live acquisition: resumed after it
            self._running = None
            self._changed()
            return
        if outcome.state is ItemState.INTERRUPTED:
            item.resume = self._closing  # a shutdown, not a user: run it again at start
        self.queue.finish(item, outcome.state, outcome.message)
        self._running = None
        self._changed()
        last = running.tracker.last if running.tracker else None
        self._last_progress = replace(
            last or ProgressMessage(item=item.id, state=""),
            state=outcome.state.value,
            phase="end",
            fps=None,
            eta_s=None,
        )
        self.publisher.publish(PROGRESS_TOPIC, encode(self._last_progress), retain=True)
        if outcome.state is ItemState.FAILED:
            why = public_text(outcome.message or "the item failed", self.data_root)
            terminal = exception_text(why)
        elif outcome.state is ItemState.INTERRUPTED:
            terminal = Status.INTERRUPTED
        else:
            terminal = Status.DONE
        self.legacy.end(item.id, terminal)  # Interrupted instead if a stop reached it

    # -- publishing (always under the lock, so statuses keep their order) -------------
    def _changed(self, later: bool = False) -> None:
        """The queue changed: save and publish it now, or with the batch (`later`)."""
        self.batch.changed = True
        if not later:
            self._flush()

    def _flush(self) -> None:
        """Save and publish the queue if it changed, then send the replies waiting."""
        changed, replies = self.batch.take()
        if changed and not self._abandoned:
            items = self.queue.snapshot_items()
            self.queue.save(items)
            self._publish_queue(items)
        for reply in replies:
            self.publisher.publish(REPLY_TOPIC, reply, qos=1)

    def _publish_queue(self, items: list[dict[str, Any]] | None = None) -> None:
        running = self._running.item.id if self._running else None
        items = self.queue.snapshot_items() if items is None else items
        items = [public_item(i, self.data_root) for i in items]
        message = QueueMessage(self.queue.paused, running, items)
        self.publisher.publish(QUEUE_TOPIC, encode(message), retain=True)


def _folder_watcher(folder: Path) -> FolderWatcher:
    return FolderWatcher(folder)
