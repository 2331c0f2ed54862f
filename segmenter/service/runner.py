"""Runs one queue item through the blocking engine, acquisition by acquisition.

Called from the service's worker thread only. Between acquisitions it checks for a stop;
during one, a stop reaches the engine through `Segmenter.stop(wait=False)` (sent by the
service under the shared lock while `in_engine` is true). `run()` returning means the
engine is idle: committed frames kept, nothing half-written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from segmenter.acquisition import find_acquisitions
from segmenter.engine import AcquisitionSummary, Progress, Segmenter
from segmenter.errors import SegmenterError
from segmenter.service.progress import AcquisitionProgress, Publisher
from segmenter.service.queue import ItemState, QueueItem
from segmenter.service.status import error_message
from segmenter.service.summary import publish_summaries
from segmenter.settings import RunSettings

log = logging.getLogger(__name__)

OK_STATES = ("done", "skipped")


@dataclass
class Running:
    """The item the worker runs, and what happened to it while it ran."""

    item: QueueItem
    legacy: bool = False  # a unit of the legacy stream: its statuses go on status/segmenter
    stops: int = 0  # stop requests that reached this item
    preempted: bool = False  # it gives way to a live acquisition (and runs again after)
    in_engine: bool = False  # inside Segmenter.run: a stop must reach the engine
    tracker: AcquisitionProgress | None = None
    frames_base: int = 0  # frames and objects of the acquisitions that have finished
    objects_base: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    state: ItemState
    message: str | None


class ItemRunner:
    """What the worker thread does with one item. `lock` is the service's condition."""

    def __init__(
        self,
        engine: Segmenter,
        data_root: Path,
        publisher: Publisher,
        lock: threading.Condition,
        changed: Callable[[], None],
        beat: Callable[[], None],
    ) -> None:
        self.engine, self.data_root, self.publisher = engine, data_root, publisher
        self.lock, self.changed = lock, changed  # `changed` saves and publishes the queue
        self.beat = beat  # the engine made progress (the watchdog follows it)
        self.after: Callable[[list[AcquisitionSummary]], None] = lambda _summaries: None

    def run(self, running: Running) -> Outcome:
        item = running.item
        summaries: list[AcquisitionSummary] = []
        try:
            settings = item.run_settings
            self.engine.ensure_workers(settings.worker_count)
            folders = [
                f for p in item.paths for f in find_acquisitions(Path(p), settings.recursive)
            ]
            if not folders:
                raise SegmenterError("no acquisition (folder with metadata.json) found")
            item.acquisitions = len(folders)
            for k, folder in enumerate(folders):
                result = self._acquisition(running, folder, settings, (k + 1, len(folders)))
                if result is None:
                    break
                summaries.extend(result)
                publish_summaries(self.publisher, result, self.data_root, item.id)
                self.after(result)  # e.g. the EcoTaxa upload (service/uploads.py)
                self._account(running, result)
                if not result or any(s.status == "interrupted" for s in result):
                    break  # a failed acquisition does not keep the others from running
        except Exception as exc:  # the service loop reports and carries on
            log.exception("item %s failed", item.id)
            return Outcome(ItemState.FAILED, error_message(exc))
        return self._outcome(item, summaries)

    def _outcome(self, item: QueueItem, summaries: list[AcquisitionSummary]) -> Outcome:
        failed = [s for s in summaries if s.status == "failed"]
        if failed:
            return Outcome(ItemState.FAILED, "; ".join(f"{s.path}: {s.message}" for s in failed))
        if len(summaries) == item.acquisitions and all(s.status in OK_STATES for s in summaries):
            return Outcome(ItemState.DONE, None)
        return Outcome(ItemState.INTERRUPTED, "stopped; the committed frames are kept")

    def _acquisition(
        self, running: Running, folder: Path, settings: RunSettings, position: tuple[int, int]
    ) -> list[AcquisitionSummary] | None:
        item = running.item
        with self.lock:
            if running.stops or running.preempted:
                return None
            running.in_engine = True
        if settings.force and str(folder.resolve()) in item.begun:
            settings = replace(settings, force=False)  # a resume must not start over
        running.tracker = AcquisitionProgress(
            self.publisher,
            self.data_root,
            item.id,
            position,
            lambda acquisition: self._begun(item, acquisition),
            lambda event: self._frame(running, event),
            running.legacy,
        )
        tracker = running.tracker

        def on_progress(event: Progress) -> None:
            self.beat()
            tracker(event)

        # `stop_requested` is read without the lock (the engine asks it under its own lock,
        # which the service takes under this one): a stop counted before the run began,
        # which `Segmenter.stop` then ignored as the engine was still idle, is honoured.
        try:
            return self.engine.run(
                [folder],
                settings,
                self.data_root,
                on_progress,
                stop_requested=lambda: running.stops > 0 or running.preempted,
            )
        finally:
            self.engine.wait_idle()
            with self.lock:
                running.in_engine = False

    def _begun(self, item: QueueItem, acquisition: Path) -> None:
        """An acquisition's run began (its outputs were reset if forced): remember it."""
        with self.lock:
            if str(acquisition) not in item.begun:
                item.begun.append(str(acquisition))
                self.changed()

    def _frame(self, running: Running, event: Progress) -> None:
        with self.lock:
            running.item.frames_done = running.frames_base + event.done
            running.item.objects = running.objects_base + event.objects

    def _account(self, running: Running, result: list[AcquisitionSummary]) -> None:
        item = running.item
        with self.lock:
            for s in result:
                if s.status in OK_STATES:
                    item.acquisitions_done += 1
                    running.frames_base += s.frames
                    running.objects_base += s.objects
                item.failed_frames += len(s.failed_frames)
                if s.archive:
                    item.archives.append(s.archive)
            if all(s.status in OK_STATES for s in result):
                item.frames_done, item.objects = running.frames_base, running.objects_base
            self.changed()
