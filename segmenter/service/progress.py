"""Engine `Progress` events of one acquisition turned into what the service publishes.

Called in the engine's thread right after a frame is committed: the legacy progress
status (only for a unit of the legacy stream), the retained progress JSON, and per
object `object_id` and `metric`, from the objects the event carries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from segmenter.engine import Progress
from segmenter.service.preview import publish_preview
from segmenter.service.status import (
    METRIC_TOPIC,
    OBJECT_TOPIC,
    PROGRESS_TOPIC,
    STATUS_TOPIC,
    WARNING_TOPIC,
    MetricMessage,
    ObjectIdMessage,
    ProgressMessage,
    Status,
    StatusMessage,
    WarningMessage,
    encode,
    progress_text,
)
from segmenter.service.status import Publisher as Publisher  # defined there, used here
from streamer import contract

log = logging.getLogger(__name__)


def below_img(acquisition: Path, data_root: Path) -> str:
    """The acquisition's path below the data root's img/ (its name when outside)."""
    try:
        return str(acquisition.relative_to(data_root / "img"))
    except ValueError:
        return acquisition.name


def publish_warnings(
    publisher: Publisher, event: Progress, *, already: int, item: str | None, acquisition: str
) -> int:
    """The QC warnings of `event` past the first `already`, each once on WARNING_TOPIC
    (segmenter.qc); returns how many have been published."""
    for warning in event.warnings[already:]:
        message = WarningMessage(
            item, acquisition, warning.kind, warning.frame, warning.name, warning.message
        )
        publisher.publish(WARNING_TOPIC, encode(message), qos=1)
    return len(event.warnings)


class AcquisitionProgress:
    """The `on_progress` callback of one `Segmenter.run` of one acquisition."""

    def __init__(
        self,
        publisher: Publisher,
        data_root: Path,
        *,
        item_id: str,
        position: tuple[int, int],
        on_begin: Callable[[Path], None],
        on_frame: Callable[[Progress], None],
        legacy: bool = True,
    ) -> None:
        self.publisher, self.data_root, self.item_id = publisher, data_root.resolve(), item_id
        self.position = position  # (index of this acquisition in the item from 1, count)
        self.on_begin, self.on_frame = on_begin, on_frame
        self.legacy = legacy  # a unit of the legacy stream: its statuses go on STATUS_TOPIC
        self.first_done: int | None = None
        self.first_time = time.monotonic()
        self.last: ProgressMessage | None = None
        self.warned = 0  # QC warnings of the acquisition already published

    def __call__(self, event: Progress) -> None:
        try:
            self._handle(event)
        except Exception:  # a publishing problem must never break the run
            log.exception("cannot publish the progress of %s", event.acquisition)

    def _status(self, text: str, qos: int = 0) -> None:
        if self.legacy:
            self.publisher.publish(STATUS_TOPIC, encode(StatusMessage(text)), qos=qos)

    def _handle(self, event: Progress) -> None:
        if event.phase == "start":
            self.first_done, self.first_time = event.done, time.monotonic()
            self.warned = len(event.warnings)  # a resumed run's were said by its first run
            self.on_begin(event.acquisition)
            if event.done < event.total:  # the initial flat only: the old program
                self._status(Status.FLAT, qos=1)  # did not announce recalculations
        elif event.phase == "frame":
            self._status(progress_text(event.frame, event.done, event.total))
            self._publish_objects(event)
            publish_preview(self.publisher, event, self.data_root)
            self._publish_warnings(event)
            self.on_frame(event)
        self.publish_progress(event)

    def _publish_warnings(self, event: Progress) -> None:
        self.warned = publish_warnings(
            self.publisher,
            event,
            already=self.warned,
            item=self.item_id,
            acquisition=self._rel(event),
        )

    def _rel(self, event: Progress) -> str:
        return below_img(event.acquisition, self.data_root)

    def _publish_objects(self, event: Progress) -> None:
        """Per object of the frame just committed (the event carries them), the metric
        in the run's output contract (streamer.contract.metric)."""
        for obj in event.committed:
            label = str(obj.features.get("label", ""))  # the old program sent the label here
            self.publisher.publish(OBJECT_TOPIC, encode(ObjectIdMessage(label)))
            features = contract.metric(obj, event.compat, event.pixel_um)
            self.publisher.publish(METRIC_TOPIC, encode(MetricMessage.of(obj.object_id, features)))

    def rate(self, event: Progress) -> tuple[float | None, float | None]:
        """Frames per second since this run began (resumed frames excluded), and ETA."""
        new = event.done - (self.first_done or 0)
        spent = time.monotonic() - self.first_time
        if new <= 0 or spent <= 0:
            return None, None
        fps = new / spent
        return round(fps, 3), round((event.total - event.done) / fps, 1)

    def publish_progress(self, event: Progress) -> None:
        fps, eta = self.rate(event)
        rel = self._rel(event)
        message = ProgressMessage(
            item=self.item_id,
            state="running",
            acquisition=rel,
            acquisition_index=self.position[0],
            acquisitions=self.position[1],
            phase=event.phase,
            frame=event.done,
            frames=event.total,
            objects=event.objects,
            failed_frames=event.failed,
            fps=fps,
            eta_s=eta,
            warnings=[w.to_json() for w in event.warnings],
        )
        self.last = message
        self.publisher.publish(PROGRESS_TOPIC, encode(message), retain=True)
