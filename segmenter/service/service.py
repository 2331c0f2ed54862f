"""The orchestrator: commands in, one worker thread running queue items, statuses out.

The transport's callbacks only put what arrives into a bounded inbox (`receive`,
`connected`); one command thread takes it from there, parses, acts under a short lock
and publishes; it never waits for segmentation. One worker thread takes items one at a
time and runs them through the blocking `Segmenter.run` (see runner.py).
On `status/segmenter` each unit of work gets exactly one terminal status: `Interrupted`
once per stop, published by the worker after
`Segmenter.run` returned (the engine is idle, files consistent); an error for a failed
item; `Done` once the service has finished everything it accepted and is idle.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from segmenter.engine import Segmenter
from segmenter.errors import ConfigError
from segmenter.service.commands import (
    MAX_PAYLOAD,
    Command,
    Dequeue,
    Reorder,
    Resume,
    Scope,
    Segment,
    Stop,
    UpdateConfig,
    parse_command,
    parse_id,
)
from segmenter.service.inbox import Inbox
from segmenter.service.progress import Publisher
from segmenter.service.queue import ItemState, JobQueue, QueueItem
from segmenter.service.runner import ItemRunner, Outcome, Running
from segmenter.service.sdnotify import Heartbeat
from segmenter.service.status import (
    PROGRESS_TOPIC,
    QUEUE_TOPIC,
    REPLY_TOPIC,
    STATUS_TOPIC,
    Info,
    ProgressMessage,
    QueueMessage,
    ReplyMessage,
    Status,
    StatusMessage,
    encode,
    error_text,
)
from segmenter.settings import RunSettings

log = logging.getLogger(__name__)
WORKER, COMMANDS = "worker thread", "command thread"  # their names for the heartbeat


@dataclass(frozen=True, slots=True)
class Received:
    """A command payload from the transport."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Connected:
    """The transport (re)connected; `first` the first time since start."""

    first: bool


class Service:
    """The segmenter service: owns the queue and the worker thread, not the transport."""

    def __init__(
        self, data_root: Path, engine: Segmenter, publisher: Publisher, defaults: RunSettings
    ) -> None:
        self.data_root = data_root.resolve()
        self.engine, self.publisher, self.defaults = engine, publisher, defaults
        self.queue = JobQueue(self.data_root)
        self.lock = threading.Condition()
        self._running: Running | None = None
        self._closing = False
        self._abandoned = False  # shutdown gave up waiting: the saved queue stays as it is
        self._connected = threading.Event()
        self._last_progress = ProgressMessage(item=None, state="idle")
        self.heartbeat = Heartbeat()
        self._runner = ItemRunner(
            engine, self.data_root, publisher, self.lock, self._changed, self._beat
        )
        self._thread = threading.Thread(target=self._loop, name="segmenter-worker", daemon=True)
        self.inbox: Inbox[Received | Connected] = Inbox()
        self._actor = threading.Thread(target=self._act, name="segmenter-commands", daemon=True)

    # -- life cycle ------------------------------------------------------------------
    def start(self) -> None:
        """Load the saved queue and start the worker (it waits for the first connect)."""
        for item in self.queue.load():
            log.info("item %s resumes (%s)", item.id, ", ".join(item.paths))
        self.queue.save()
        self._thread.start()
        self._actor.start()

    # -- transport callbacks (paho's network thread): queue and return -----------------
    def receive(self, payload: bytes) -> None:
        """A command payload arrived; waits only while the inbox is full."""
        payload = payload[: MAX_PAYLOAD + 1]  # the parser refuses anything longer
        if not self.inbox.put(Received(payload), len(payload)):
            log.warning("the service is closing: a command was not handled")

    def connected(self, first: bool) -> None:
        self.inbox.put(Connected(first), 0)

    def _act(self) -> None:
        """The command thread: everything that arrives, in order."""
        while (message := self.inbox.get()) is not None:
            self.heartbeat.beat(COMMANDS)
            try:
                if isinstance(message, Received):
                    self.handle_payload(message.payload)
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
            self._connected.set()

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

    def _beat(self) -> None:
        self.heartbeat.beat(WORKER)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop like a `stop` (the item resumes at the next start); True if the worker ended."""
        with self.lock:
            self._closing = True
            if self._running is not None:
                self._request_stop(self._running)
            self.lock.notify_all()
        self._connected.set()
        ended = self.join(timeout)
        if not ended:
            with self.lock:
                self._abandon()
        self.inbox.close()
        self._actor.join(5)
        return ended

    def _abandon(self) -> None:
        """The running item did not stop in time and the engine may now fail under it (its
        pool is closed next): keep it as saved, running, so that it resumes at the next
        start, and ignore whatever the worker thread reports from now on."""
        if self._running is None:
            return
        log.warning(
            "item %s did not stop in time; it resumes at the next start", self._running.item.id
        )
        self.queue.save()
        self._abandoned = True
        if self._running.stops:
            self._status(Status.INTERRUPTED)

    # -- commands (command thread) ---------------------------------------------------
    def handle_payload(self, payload: bytes) -> None:
        """Entry point of the transport: parse, act, answer; never raises."""
        try:
            command = parse_command(payload, self.data_root)
        except ConfigError as exc:
            with self.lock:
                self._refuse(_peek_id(payload), "parse", str(exc))
            return
        self.handle(command)

    def handle(self, command: Command) -> None:
        with self.lock:
            try:
                self._dispatch(command)
            except ConfigError as exc:
                self._refuse(command.id, command.action.value, str(exc))
                return
            self._changed()
            self.lock.notify_all()

    def _dispatch(self, command: Command) -> None:
        action = command.action.value
        if isinstance(command, Segment):
            self._enqueue(command)
        elif isinstance(command, Stop):
            self._stop(command)
        elif isinstance(command, Dequeue):
            item = self.queue.dequeue(command.item)
            self._reply(command.id, action, f"removed {item.id}", item.id)
        elif isinstance(command, Reorder):
            self.queue.reorder(command.order)
            self._reply(command.id, action, "reordered")
        elif isinstance(command, Resume):
            self.queue.paused = False
            self._status(Info.QUEUE_RESUMED)
            self._reply(command.id, action, "queue running")
        elif isinstance(command, UpdateConfig):
            if self._running is not None:  # refused, in words the dashboard ignores
                self._status(Info.CONFIG_REFUSED)
                self._reply(command.id, action, Info.CONFIG_REFUSED, ok=False)
                return
            self.defaults = command.settings.apply(self.defaults)
            self._status(Info.CONFIG_UPDATED)
            self._reply(command.id, action, "defaults updated")

    def _enqueue(self, command: Segment) -> None:
        settings = command.settings.apply(self.defaults)
        item = QueueItem(
            id=command.id or self.queue.new_id(),
            paths=[str(p) for p in command.paths],
            settings=asdict(settings),
        )
        position = self.queue.add(item)
        if command.start_queue:
            self.queue.paused = False
        self._reply(command.id, command.action.value, f"queued at position {position}", item.id)

    def _stop(self, command: Stop) -> None:
        action = command.action.value
        if command.scope is Scope.QUEUE:
            self.queue.paused = True
            self._status(Info.QUEUE_PAUSED)
            self._reply(command.id, action, "queue paused")
            return
        if command.scope is Scope.ALL:
            dropped = self.queue.drop_pending()
            log.info("stop all: %d pending item(s) dropped", len(dropped))
        if self._running is None:
            self._status(Status.INTERRUPTED)  # nothing runs: the engine is already idle
            self._reply(command.id, action, "nothing was running")
            return
        self._request_stop(self._running)
        item_id = self._running.item.id
        self._reply(command.id, action, f"stopping {item_id}", item_id)

    def _request_stop(self, running: Running) -> None:
        running.stops += 1
        if running.in_engine:
            self.engine.stop(wait=False)  # sets a flag; the worker reports once run() returns

    # -- worker thread ---------------------------------------------------------------
    def _loop(self) -> None:
        self._connected.wait()
        while True:
            with self.lock:
                self.heartbeat.rest(WORKER)
                while not self._closing and not self.queue.runnable():
                    self.lock.wait()
                if self._closing:
                    return
                self._beat()
                item = self.queue.take_next()
                assert item is not None
                running = self._running = Running(item)
                self._changed()
                self._status(Status.STARTED)
            outcome = self._runner.run(running)
            with self.lock:
                self._finish(running, outcome)

    def _finish(self, running: Running, outcome: Outcome) -> None:
        if self._abandoned:
            return
        item = running.item
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
        if running.stops:
            for _ in range(running.stops):
                self._status(Status.INTERRUPTED)
        elif outcome.state is ItemState.FAILED:
            self._status(error_text(outcome.message or "the item failed"))
        elif outcome.state is ItemState.INTERRUPTED:
            self._status(Status.INTERRUPTED)
        elif not self.queue.runnable():
            self._status(Status.DONE)

    # -- publishing (always under the lock, so statuses keep their order) -------------
    def _changed(self) -> None:
        if self._abandoned:
            return
        self.queue.save()
        self._publish_queue()

    def _status(self, text: str) -> None:
        self.publisher.publish(STATUS_TOPIC, encode(StatusMessage(str(text))), qos=1)

    def _publish_queue(self) -> None:
        running = self._running.item.id if self._running else None
        message = QueueMessage(self.queue.paused, running, self.queue.snapshot_items())
        self.publisher.publish(QUEUE_TOPIC, encode(message), retain=True)

    def _reply(
        self, cid: str | None, action: str, message: str, item: str | None = None, ok: bool = True
    ) -> None:
        reply = ReplyMessage(cid, action, ok, message, item)
        self.publisher.publish(REPLY_TOPIC, encode(reply), qos=1)

    def _refuse(self, cid: str | None, action: str, message: str) -> None:
        log.warning("command refused: %s", message)
        self._status(error_text(message))
        reply = ReplyMessage(cid, action, False, error_text(message))
        self.publisher.publish(REPLY_TOPIC, encode(reply), qos=1)


def _peek_id(payload: bytes) -> str | None:
    """The command's id, if one can be read from a payload that failed to parse."""
    try:
        data = json.loads(payload)
        return parse_id(data.get("id")) if isinstance(data, dict) else None
    except (ValueError, ConfigError):
        return None
