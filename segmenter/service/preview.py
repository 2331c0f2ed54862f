"""The live preview on MQTT (docs/live.md): the JPEG of a committed frame, downscaled
with its objects' boxes drawn, retained on PREVIEW_IMAGE_TOPIC, then its JSON companion
retained on PREVIEW_TOPIC (the frame, its boxes in frame pixels, the object count and
the frame's QC figures), so that a page that has the companion has its image too. The
engine makes one every few seconds at most (RunSettings.preview_s)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmenter.engine.events import Progress
from segmenter.service.status import (
    PREVIEW_IMAGE_TOPIC,
    PREVIEW_TOPIC,
    Publisher,
    encode,
    public_text,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PreviewMessage:
    """Retained on status/segmenter/preview."""

    acquisition: str  # below img/
    frame: str
    index: int  # the frame's position in the acquisition, from 0
    width: int  # the frame's size: the boxes are in its pixels
    height: int
    boxes: list[list[int]]  # [x, y, width, height] per object, in label order
    objects: int
    image_bytes: int  # the size of the JPEG on PREVIEW_IMAGE_TOPIC
    image_sha1: str  # its digest: which image this companion describes
    qc: dict[str, Any] = field(default_factory=dict)


def publish_preview(publisher: Publisher, event: Progress, data_root: Path) -> None:
    """The event's preview, if it carries one: the image first, then its companion."""
    preview = event.preview
    if preview is None:
        return
    rel = public_text(str(event.acquisition), data_root / "img")
    message = PreviewMessage(
        rel.removeprefix("./"),
        preview.frame,
        preview.index,
        preview.width,
        preview.height,
        [list(box) for box in preview.boxes],
        preview.objects,
        len(preview.jpeg),
        hashlib.sha1(preview.jpeg).hexdigest(),
        preview.qc,
    )
    try:
        publisher.publish(PREVIEW_IMAGE_TOPIC, preview.jpeg, retain=True)
        publisher.publish(PREVIEW_TOPIC, encode(message), retain=True)
    except Exception:  # a preview is never worth breaking the run
        log.exception("cannot publish the preview of %s", event.acquisition)
