"""Runs one queue item on the worker thread, acquisition by acquisition.

Each acquisition is one `EngineJob.run` (job.py), which a stop or a live acquisition
interrupts at a frame boundary; between acquisitions the item checks for both. What the
acquisitions came to is counted into the queue item and published (summaries, uploads).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from segmenter.acquisition import find_acquisitions
from segmenter.engine import AcquisitionSummary, Progress
from segmenter.errors import SegmenterError
from segmenter.service.job import EngineJob
from segmenter.service.progress import AcquisitionProgress, Publisher
from segmenter.service.queue import ItemState, QueueItem
from segmenter.service.status import error_message
from segmenter.service.summary import publish_summaries
from segmenter.settings import RunSettings

log = logging.getLogger(__name__)

OK_STATES = ("done", "skipped")


@dataclass
class ItemRun:
    """The item the worker runs, and what happened to it while it ran."""

    item: QueueItem
    job: EngineJob
    legacy: bool = False  # a unit of the legacy stream: its statuses go on status/segmenter
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
        data_root: Path,
        publisher: Publisher,
        *,
        lock: threading.Condition,
        changed: Callable[[], None],
        after: Callable[[list[AcquisitionSummary]], None],
    ) -> None:
        self.data_root, self.publisher = data_root, publisher
        self.lock, self.changed = lock, changed  # `changed` saves and publishes the queue
        self.after = after  # e.g. the EcoTaxa upload (service/uploads.py)

    def run(self, run: ItemRun) -> Outcome:
        item = run.item
        summaries: list[AcquisitionSummary] = []
        try:
            settings = item.run_settings
            folders = [
                f for p in item.paths for f in find_acquisitions(Path(p), settings.recursive)
            ]
            if not folders:
                raise SegmenterError("no acquisition (folder with metadata.json) found")
            item.acquisitions = len(folders)
            for k, folder in enumerate(folders):
                result = self._acquisition(
                    run, folder, settings=settings, position=(k + 1, len(folders))
                )
                if result is None:
                    break
                summaries.extend(result)
                publish_summaries(self.publisher, result, data_root=self.data_root, item=item.id)
                self.after(result)
                self._account(run, result)
                if not result or any(s.status == "interrupted" for s in result):
                    break  # a failed acquisition does not keep the others from running
        except Exception as exc:  # the service loop reports and carries on
            log.exception("item %s failed", item.id)
            return Outcome(ItemState.FAILED, error_message(exc))
        return _outcome(item, summaries)

    def _acquisition(
        self, run: ItemRun, folder: Path, *, settings: RunSettings, position: tuple[int, int]
    ) -> list[AcquisitionSummary] | None:
        item = run.item
        if settings.force and str(folder.resolve()) in item.begun:
            settings = replace(settings, force=False)  # a resume must not start over
        run.tracker = AcquisitionProgress(
            self.publisher,
            self.data_root,
            item_id=item.id,
            position=position,
            on_begin=lambda acquisition: self._begun(item, acquisition),
            on_frame=lambda event: self._frame(run, event),
            legacy=run.legacy,
        )
        summary = run.job.run(
            lambda on_progress, stop_requested: run.job.engine.run_acquisition(
                folder, settings, data_root=self.data_root, on_progress=on_progress,
                stop_requested=stop_requested,
            ),
            on_progress=run.tracker,
        )  # fmt: skip
        return None if summary is None else [summary]

    def _begun(self, item: QueueItem, acquisition: Path) -> None:
        """An acquisition's run began (its outputs were reset if forced): remember it."""
        with self.lock:
            if str(acquisition) not in item.begun:
                item.begun.append(str(acquisition))
                self.changed()

    def _frame(self, run: ItemRun, event: Progress) -> None:
        with self.lock:
            run.item.frames_done = run.frames_base + event.done
            run.item.objects = run.objects_base + event.objects

    def _account(self, run: ItemRun, result: list[AcquisitionSummary]) -> None:
        item = run.item
        with self.lock:
            for s in result:
                if s.status in OK_STATES:
                    item.acquisitions_done += 1
                    run.frames_base += s.frames
                    run.objects_base += s.objects
                item.failed_frames += len(s.failed_frames)
                if s.archive:
                    item.archives.append(s.archive)
            if all(s.status in OK_STATES for s in result):
                item.frames_done, item.objects = run.frames_base, run.objects_base
            self.changed()


def _outcome(item: QueueItem, summaries: list[AcquisitionSummary]) -> Outcome:
    failed = [s for s in summaries if s.status == "failed"]
    if failed:
        return Outcome(ItemState.FAILED, "; ".join(f"{s.path}: {s.message}" for s in failed))
    if len(summaries) == item.acquisitions and all(s.status in OK_STATES for s in summaries):
        return Outcome(ItemState.DONE, None)
    return Outcome(ItemState.INTERRUPTED, "stopped; the committed frames are kept")
