"""What each command does to the queue, the running item and the legacy stream.

Runs in the service's command thread, under the service's lock; never waits for
segmentation. Every command gets an answer on the reply topic, once the queue it changed
is saved: under a burst, the service saves and publishes the queue once per batch
(service.py), so a command costs the same however long the queue is. Only `segment` (a unit
of the legacy stream), the dashboard's stop and `update_config` say anything on
`status/segmenter`; see legacy.py for the rules.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from pathlib import Path

from segmenter.engine import Segmenter
from segmenter.errors import ConfigError
from segmenter.service.actor import Batch
from segmenter.service.commands import (
    Action,
    Command,
    Dequeue,
    Reorder,
    Resume,
    Scope,
    Segment,
    SettingsPatch,
    Stop,
    UpdateConfig,
    UploadRequest,
    parse_command,
    peek_action,
)
from segmenter.service.legacy import LegacyStream
from segmenter.service.live import LiveFollower
from segmenter.service.live_run import LiveRunning
from segmenter.service.progress import Publisher
from segmenter.service.queue import JobQueue, QueueItem
from segmenter.service.runner import Running
from segmenter.service.status import (
    STATUS_TOPIC,
    Info,
    ReplyMessage,
    Status,
    StatusMessage,
    encode,
    exception_text,
    public_text,
)
from segmenter.service.uploads import ServiceUploads
from segmenter.settings import RunSettings

log = logging.getLogger(__name__)


class CommandHandlers:
    """The commands half of the service (a mixin of `Service`, which sets these up)."""

    data_root: Path
    engine: Segmenter
    publisher: Publisher
    defaults: RunSettings
    queue: JobQueue
    legacy: LegacyStream
    lock: threading.Condition
    _running: Running | None
    _live: LiveRunning | None
    live: LiveFollower
    batch: Batch  # the replies wait for the queue's next save (actor.py)
    uploads: ServiceUploads

    def _changed(self, later: bool = False) -> None:
        raise NotImplementedError

    def handle_payload(self, payload: bytes) -> None:
        """Parse, act, answer; never raises."""
        try:
            command = parse_command(payload, self.data_root)
        except ConfigError as exc:
            action, cid = peek_action(payload)
            with self.lock:
                self._refuse(cid, action or "parse", str(exc), legacy=action == Action.SEGMENT)
            return
        with self.lock:
            try:
                self._dispatch(command)
            except ConfigError as exc:
                legacy = isinstance(command, Segment) and command.legacy
                self._refuse(command.id, command.action.value, str(exc), legacy)
                return
            self._changed(later=True)  # saved and published with the next batch
            self.lock.notify_all()

    def _dispatch(self, command: Command) -> None:
        action = command.action.value
        if isinstance(command, Segment):
            self._enqueue(command)
        elif isinstance(command, Stop):
            self._stop(command)
        elif isinstance(command, Dequeue):
            item = self.queue.dequeue(command.item)
            self.legacy.end(item.id, Status.INTERRUPTED)
            self._reply(command.id, action, f"removed {item.id}", item.id)
        elif isinstance(command, Reorder):
            self.queue.reorder(command.order)
            self._reply(command.id, action, "reordered")
        elif isinstance(command, Resume):
            self.queue.paused = False
            self._reply(command.id, action, "queue running")
        elif isinstance(command, UploadRequest):
            sent = self.uploads.request(command.paths, command.again)
            self._reply(command.id, action, f"upload of {len(sent)} acquisition(s) queued")
        elif isinstance(command, UpdateConfig):
            if self._running is not None:  # refused, in words the dashboard ignores
                self._status(Info.CONFIG_REFUSED)
                self._reply(command.id, action, Info.CONFIG_REFUSED, ok=False)
                return
            self.defaults = command.settings.apply(self.defaults)
            if command.settings.live is not None:
                self.live.enabled = command.settings.live
            self._status(Info.CONFIG_UPDATED)
            self._reply(command.id, action, _with_notes("defaults updated", command.settings))

    def _enqueue(self, command: Segment) -> None:
        settings = command.settings.apply(self.defaults)
        item = QueueItem(
            id=command.id or self.queue.new_id(),
            paths=[str(p) for p in command.paths],
            settings=asdict(settings),
        )
        position = self.queue.add(item)
        if command.legacy:
            self.legacy.add(item.id)
        if command.start_queue:
            self.queue.paused = False
        text = _with_notes(f"queued at position {position}", command.settings)
        self._reply(command.id, command.action.value, text, item.id)

    def _stop(self, command: Stop) -> None:
        if command.legacy:
            self._legacy_stop(command)
            return
        action = command.action.value
        if command.scope is Scope.LIVE:
            self._stop_live_work(command)
            return
        if command.scope is Scope.QUEUE:
            self.queue.paused = True
            self._reply(command.id, action, "queue paused: the current item goes on")
            return
        if command.scope is Scope.ALL:
            dropped = self.queue.drop_pending()
            log.info("stop all: %d pending item(s) dropped", len(dropped))
            for item in dropped:
                self.legacy.end(item.id, Status.INTERRUPTED)
        if self._running is None:
            self._reply(command.id, action, "nothing was running")
            return
        self._request_stop(self._running)
        item_id = self._running.item.id
        self._reply(command.id, action, f"stopping {item_id}", item_id)

    def _stop_live_work(self, command: Stop) -> None:
        """Stop the live acquisition and drop those waiting; what was committed stays
        (a batch `segment` of the folder later resumes from it)."""
        dropped = self.live.stop_waiting()
        names = [str(s.folder) for s in dropped]
        if self._live is not None:
            self._stop_live(self._live)
            names.insert(0, str(self._live.source.folder))
        text = f"stopping live {', '.join(names)}" if names else "no live acquisition"
        self._reply(command.id, command.action.value, text)

    def _stop_live(self, running: LiveRunning) -> None:
        raise NotImplementedError

    def _legacy_stop(self, command: Stop) -> None:
        """The dashboard's stop: it is about its own oldest open unit, never about work
        that came another way."""
        action = command.action.value
        if self.legacy.repeated_stop():
            self._reply(command.id, action, "a repeated stop: the first one is answered")
            return
        target = self.legacy.first_open()
        if target is None:
            self.legacy.idle_stop()
            self._reply(command.id, action, "nothing was running")
        elif self._running is not None and self._running.item.id == target:
            self._request_stop(self._running)
            self._reply(command.id, action, f"stopping {target}", target)
        else:
            self.queue.cancel(target, "stopped before it began")
            self.legacy.stopping(target)
            self.legacy.end(target, Status.INTERRUPTED)
            self._reply(command.id, action, f"{target} will not run", target)

    def _request_stop(self, running: Running) -> None:
        running.stops += 1
        self.legacy.stopping(running.item.id)
        if running.in_engine:
            self.engine.stop(wait=False)  # sets a flag; the worker reports once run() returns

    # -- answers ---------------------------------------------------------------------
    def _status(self, text: str) -> None:
        self.publisher.publish(STATUS_TOPIC, encode(StatusMessage(str(text))), qos=1)

    def _reply(
        self, cid: str | None, action: str, message: str, item: str | None = None, ok: bool = True
    ) -> None:
        """Sent once what the command changed is saved (at the batch's end)."""
        text = public_text(message, self.data_root)
        self.batch.replies.append(encode(ReplyMessage(cid, action, ok, text, item)))

    def _refuse(self, cid: str | None, action: str, message: str, legacy: bool) -> None:
        """A refused command: a reply; a refused `segment` is also a unit that ends at
        once with an error (the dashboard waits for one)."""
        log.warning("command refused: %s", message)
        if legacy:
            self.legacy.refused(exception_text(public_text(message, self.data_root)))
        self._reply(cid, action, message, ok=False)


def _with_notes(text: str, settings: SettingsPatch) -> str:
    return "; ".join((text, *settings.notes))
