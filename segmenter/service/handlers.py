"""What each command does to the queue, the work running and the dashboard's stream.

Runs in the service's command thread, under the service's lock; never waits for
segmentation: a stop reaches the running work through the worker thread
(worker_thread.py). Every command gets an answer on the reply topic, once the queue it
changed is saved: under a burst, the service saves and publishes the queue once per batch
(actor.py), so a command costs the same however long the queue is. Only `segment` (a unit
of the dashboard's stream), the dashboard's stop and `update_config` say anything on
`status/segmenter`; see dashboard_stream.py for the rules.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

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
from segmenter.service.queue import QueueItem
from segmenter.service.status import (
    Info,
    ReplyMessage,
    Status,
    encode,
    exception_text,
    public_text,
)
from segmenter.service.worker_thread import WorkerThread

log = logging.getLogger(__name__)


class CommandHandlers:
    """What each command does; the service's command thread calls `handle_payload`."""

    def __init__(
        self,
        data_root: Path,
        worker: WorkerThread,
        *,
        lock: threading.Condition,
        batch: Batch,
        status: Callable[[str], None],
    ) -> None:
        self.data_root, self.worker, self.lock = data_root, worker, lock
        self.queue, self.dashboard = worker.queue, worker.dashboard
        self.follower, self.uploads = worker.follower, worker.uploads
        self.batch = batch  # the replies wait for the queue's next save (actor.py)
        self._status = status  # says `text` on status/segmenter

    def handle_payload(self, payload: bytes) -> None:
        """Parse, act, answer; never raises."""
        try:
            command = parse_command(payload, self.data_root)
        except ConfigError as exc:
            action, cid = peek_action(payload)
            with self.lock:
                self._refuse(
                    cid, action or "parse", message=str(exc), legacy=action == Action.SEGMENT
                )
            return
        with self.lock:
            try:
                self._dispatch(command)
            except ConfigError as exc:
                legacy = isinstance(command, Segment) and command.legacy
                self._refuse(command.id, command.action.value, message=str(exc), legacy=legacy)
                return
            self.batch.changed = True  # saved and published with the next batch
            self.lock.notify_all()

    def _dispatch(self, command: Command) -> None:
        action = command.action.value
        if isinstance(command, Segment):
            self._enqueue(command)
        elif isinstance(command, Stop):
            self._stop(command)
        elif isinstance(command, Dequeue):
            item = self.queue.dequeue(command.item)
            self.dashboard.end(item.id, Status.INTERRUPTED)
            self._reply(command.id, action, message=f"removed {item.id}", item=item.id)
        elif isinstance(command, Reorder):
            self.queue.reorder(command.order)
            self._reply(command.id, action, message="reordered")
        elif isinstance(command, Resume):
            self.queue.paused = False
            self._reply(command.id, action, message="queue running")
        elif isinstance(command, UploadRequest):
            sent = self.uploads.request(command.paths, command.again)
            self._reply(command.id, action, message=f"upload of {len(sent)} acquisition(s) queued")
        elif isinstance(command, UpdateConfig):
            if self.worker.item is not None:  # refused, in words the dashboard ignores
                self._status(Info.CONFIG_REFUSED)
                self._reply(command.id, action, message=Info.CONFIG_REFUSED, ok=False)
                return
            self.worker.defaults = command.settings.apply(self.worker.defaults)
            if command.settings.workers is not None:
                self.worker.workers = command.settings.workers
            if command.settings.live is not None:
                self.follower.enabled = command.settings.live
            self._status(Info.CONFIG_UPDATED)
            self._reply(
                command.id, action, message=_with_notes("defaults updated", command.settings)
            )

    def _enqueue(self, command: Segment) -> None:
        settings = command.settings.apply(self.worker.defaults)
        workers = command.settings.workers or self.worker.workers
        item = QueueItem(
            id=command.id or self.queue.new_id(),
            paths=[str(p) for p in command.paths],
            settings={**asdict(settings), "workers": workers},
        )
        position = self.queue.add(item)
        if command.legacy:
            self.dashboard.add(item.id)
        if command.start_queue:
            self.queue.paused = False
        text = _with_notes(f"queued at position {position}", command.settings)
        self._reply(command.id, command.action.value, message=text, item=item.id)

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
            self._reply(command.id, action, message="queue paused: the current item goes on")
            return
        if command.scope is Scope.ALL:
            dropped = self.queue.drop_pending()
            log.info("stop all: %d pending item(s) dropped", len(dropped))
            for item in dropped:
                self.dashboard.end(item.id, Status.INTERRUPTED)
        if self.worker.item is None:
            self._reply(command.id, action, message="nothing was running")
            return
        item_id = self.worker.stop_item()
        self._reply(command.id, action, message=f"stopping {item_id}", item=item_id)

    def _stop_live_work(self, command: Stop) -> None:
        """Stop the live acquisition and drop those waiting; what was committed stays
        (a batch `segment` of the folder later resumes from it)."""
        dropped = self.follower.stop_waiting()
        names = [str(s.folder) for s in dropped]
        if self.worker.live is not None:
            self.worker.live.job.stop()
            names.insert(0, str(self.worker.live.source.folder))
        text = f"stopping live {', '.join(names)}" if names else "no live acquisition"
        self._reply(command.id, command.action.value, message=text)

    def _legacy_stop(self, command: Stop) -> None:
        """The dashboard's stop: it is about its own oldest open unit, never about work
        that came another way."""
        action = command.action.value
        if self.dashboard.repeated_stop():
            self._reply(command.id, action, message="a repeated stop: the first one is answered")
            return
        target = self.dashboard.first_open()
        if target is None:
            self.dashboard.idle_stop()
            self._reply(command.id, action, message="nothing was running")
        elif self.worker.item is not None and self.worker.item.item.id == target:
            self.worker.stop_item()
            self._reply(command.id, action, message=f"stopping {target}", item=target)
        else:
            self.queue.cancel(target, "stopped before it began")
            self.dashboard.stopping(target)
            self.dashboard.end(target, Status.INTERRUPTED)
            self._reply(command.id, action, message=f"{target} will not run", item=target)

    # -- answers ---------------------------------------------------------------------
    def _reply(
        self,
        cid: str | None,
        action: str,
        *,
        message: str,
        item: str | None = None,
        ok: bool = True,
    ) -> None:
        """Sent once what the command changed is saved (at the batch's end)."""
        text = public_text(message, self.data_root)
        self.batch.replies.append(encode(ReplyMessage(cid, action, ok, text, item)))

    def _refuse(self, cid: str | None, action: str, *, message: str, legacy: bool) -> None:
        """A refused command: a reply; a refused `segment` is also a unit that ends at
        once with an error (the dashboard waits for one)."""
        log.warning("command refused: %s", message)
        if legacy:
            self.dashboard.refused(exception_text(public_text(message, self.data_root)))
        self._reply(cid, action, message=message, ok=False)


def _with_notes(text: str, settings: SettingsPatch) -> str:
    return "; ".join((text, *settings.notes))
