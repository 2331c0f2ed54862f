"""The service's worker thread: live acquisitions first, then queue items, one at a time.

Each runs through an `EngineJob` (job.py): a queue item acquisition by acquisition
(runner.py), a live acquisition as one run of the engine while its frames come. A live
acquisition that begins while a queue item runs makes the item give way at a frame
boundary (it goes back to the queue's head and resumes from its journal afterwards).

On the dashboard's stream (dashboard_stream.py) a queue item that came by `segment`
gets its terminal status once its run returned (the engine idle, files consistent):
`Done`, `Interrupted` when a stop reached it, or an error. A live acquisition's
statuses go on `status/segmenter/live` only (live_status.py); its summary goes on the
summary topic, as a queue item's.

The methods other than the loop are called from the command thread, under `lock`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from segmenter.engine import AcquisitionSummary, Progress, Segmenter
from segmenter.engine.source import LiveFrames
from segmenter.live.imager import ImagerEvent
from segmenter.service.dashboard_stream import DashboardStream
from segmenter.service.follower import LiveFollower
from segmenter.service.job import EngineJob
from segmenter.service.live_status import LiveStatus
from segmenter.service.progress import Publisher
from segmenter.service.queue import ItemState, JobQueue
from segmenter.service.runner import ItemRun, ItemRunner, Outcome
from segmenter.service.status import (
    PROGRESS_TOPIC,
    ProgressMessage,
    Status,
    encode,
    error_message,
    exception_text,
    public_text,
)
from segmenter.service.summary import publish_summaries
from segmenter.service.uploads import ServiceUploads
from segmenter.settings import RunSettings

log = logging.getLogger(__name__)


@dataclass
class LiveRun:
    """The live acquisition the worker runs."""

    source: LiveFrames
    status: LiveStatus
    job: EngineJob
    settings: RunSettings  # the defaults when it began (update_config applies to the next)


class WorkerThread:
    """Runs the work; knows what runs now. `changed` saves and publishes the queue."""

    def __init__(
        self,
        engine: Segmenter,
        data_root: Path,
        *,
        lock: threading.Condition,
        publisher: Publisher,
        defaults: RunSettings,
        queue: JobQueue,
        dashboard: DashboardStream,
        follower: LiveFollower,
        uploads: ServiceUploads,
        changed: Callable[[], None],
        beat: Callable[[], None],
        rest: Callable[[], None],
    ) -> None:
        self.engine, self.data_root, self.lock = engine, data_root, lock
        self.publisher = publisher
        self.defaults = defaults  # what an item is queued with; a live acquisition runs with
        # the worker processes an item runs with when its command names none, a live
        # acquisition too, and the engine's between them: the engine's own at the start
        self.workers = engine.pool.workers
        self.queue, self.dashboard, self.follower = queue, dashboard, follower
        self.uploads, self.changed = uploads, changed
        self.beat, self.rest = beat, rest  # the watchdog's heartbeat: busy, idle
        self.item: ItemRun | None = None
        self.live: LiveRun | None = None
        self.closing = False
        self.abandoned = False  # shutdown gave up waiting: the saved queue stays as it is
        self.last_progress = ProgressMessage(item=None, state="idle")
        self.runner = ItemRunner(
            data_root, publisher, lock=lock, changed=changed, after=uploads.after
        )
        self._go = threading.Event()  # set at the first connect (or at shutdown)
        self._thread = threading.Thread(target=self._loop, name="segmenter-worker", daemon=True)

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def go(self) -> None:
        """The broker is there: the work may begin."""
        self._go.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        """Stop like a `stop` (the item resumes at the next start); under the lock."""
        self.closing = True
        if self.item is not None:
            self.stop_item()
        if self.live is not None:
            self.live.job.stop()
        self.lock.notify_all()
        self._go.set()

    def abandon(self) -> None:
        """The running item did not stop in time and the engine may now fail under it (its
        pool is closed next): keep it as saved, running, so that it resumes at the next
        start, and ignore whatever the worker thread reports from now on."""
        if self.item is None:
            return
        item = self.item.item
        log.warning("item %s did not stop in time; it resumes at the next start", item.id)
        self.queue.save()
        self.abandoned = True
        self.dashboard.end(item.id, Status.INTERRUPTED)

    # -- the command thread's side (under the lock) -------------------------------------
    def stop_item(self) -> str:
        """Stop the running item; its id."""
        assert self.item is not None
        self.dashboard.stopping(self.item.item.id)
        self.item.job.stop()
        return self.item.item.id

    def imager(self, event: ImagerEvent) -> None:
        """An imager event: a live acquisition that begins makes the running item give way."""
        began = self.follower.on_event(event)
        if began is None:
            return
        if self.item is not None and self.item.job.give_way():
            log.info("live: item %s gives way to %s", self.item.item.id, began.folder)
        self.lock.notify_all()

    def republish(self) -> None:
        """The retained progress and live status again (after a connect)."""
        tracker = self.item.tracker if self.item else None
        last = tracker.last if tracker and tracker.last else self.last_progress
        self.publisher.publish(PROGRESS_TOPIC, encode(last), retain=True)
        if self.live is not None:
            self.live.status.republish()

    # -- the worker thread ------------------------------------------------------------
    def _loop(self) -> None:
        self._go.wait()
        while (work := self._next()) is not None:
            if isinstance(work, LiveRun):
                self._run_live(work)
                continue
            outcome = self.runner.run(work)
            with self.lock:
                workers = self.workers
            self.engine.ensure_workers(workers)  # an item's own count does not outlive it
            with self.lock:
                self._finish(work, outcome)

    def _next(self) -> LiveRun | ItemRun | None:
        """What to run next, once there is something (live frames first); None to end."""
        with self.lock:
            self.rest()
            while not self.closing and not self.follower.take() and not self.queue.runnable():
                self.lock.wait()
            if self.closing:
                return None
            self.beat()
            source = self.follower.take()
            if source is not None:
                settings = replace(self.defaults, force=False)  # a resume never starts over
                job = EngineJob(self.engine, self.lock, workers=self.workers, beat=self.beat)
                self.live = LiveRun(source, self._live_status(source), job, settings)
                return self.live
            item = self.queue.take_next()
            assert item is not None
            job = EngineJob(self.engine, self.lock, workers=item.workers, beat=self.beat)
            self.item = ItemRun(item, job, legacy=self.dashboard.owns(item.id))
            self.changed()
            self.dashboard.start(item.id)
            return self.item

    def _finish(self, run: ItemRun, outcome: Outcome) -> None:
        if self.abandoned:
            return
        item = run.item
        gave_way = run.job.preempted and not run.job.stops and not self.closing
        self.item = None
        if outcome.state is ItemState.INTERRUPTED and gave_way:
            self.queue.requeue(item)  # it gave way to a live acquisition: resumed after it
            self.changed()
            return
        if outcome.state is ItemState.INTERRUPTED:
            item.resume = self.closing  # a shutdown, not a user: run it again at start
        self.queue.finish(item, outcome.state, outcome.message)
        self.changed()
        last = run.tracker.last if run.tracker else None
        self.last_progress = replace(
            last or ProgressMessage(item=item.id, state=""),
            state=outcome.state.value,
            phase="end",
            fps=None,
            eta_s=None,
        )
        self.publisher.publish(PROGRESS_TOPIC, encode(self.last_progress), retain=True)
        if outcome.state is ItemState.FAILED:
            why = public_text(outcome.message or "the item failed", self.data_root)
            terminal = exception_text(why)
        elif outcome.state is ItemState.INTERRUPTED:
            terminal = Status.INTERRUPTED
        else:
            terminal = Status.DONE
        self.dashboard.end(item.id, terminal)  # Interrupted instead if a stop reached it

    def _live_status(self, source: LiveFrames) -> LiveStatus:
        def waiting() -> list[str]:
            return [str(s.folder) for s in self.follower.waiting]

        return LiveStatus(self.publisher, source, waiting=waiting, data_root=self.data_root)

    def _run_live(self, live: LiveRun) -> None:
        """The live acquisition to its end; a stop keeps what was committed."""
        folder, settings = live.source.folder, live.settings

        def on_progress(event: Progress) -> None:
            with self.lock:
                live.status(event)

        try:
            summary = live.job.run(
                lambda progress, stop_requested: self.engine.run_live(
                    live.source,
                    settings,
                    data_root=self.data_root,
                    on_progress=progress,
                    stop_requested=stop_requested,
                ),
                on_progress=on_progress,
            )
            if summary is None:  # stopped before it began
                summary = AcquisitionSummary(str(folder), "interrupted", message="stopped")
            publish_summaries(self.publisher, [summary], data_root=self.data_root, item=None)
            self.uploads.after([summary])
        except Exception as exc:  # the service loop reports and carries on
            log.exception("live acquisition %s failed", folder)
            summary = AcquisitionSummary(str(folder), "failed", message=error_message(exc))
        with self.lock:
            if self.abandoned:
                return
            stopped = summary.status == "interrupted" and not self.closing
            live.status.end(summary)
            self.follower.finished(live.source, stopped=stopped)
            self.live = None
            log.info("live: %s %s", folder, summary.status)
