"""The report's figures on MQTT: once an acquisition is archived, its summary (what
`summary_<acq_id>.json` holds, plus the item and the acquisition's path below img/) is
published retained on the service's own topic, never on the legacy status/segmenter."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from segmenter.service.progress import Publisher
from segmenter.service.status import SUMMARY_TOPIC
from segmenter.summary import AcquisitionSummary

log = logging.getLogger(__name__)


def publish_summaries(
    publisher: Publisher,
    summaries: Sequence[AcquisitionSummary],
    *,
    data_root: Path,
    item: str | None,
) -> None:
    """One retained message per acquisition that has a report (`item`: the queue item,
    None for a live acquisition); problems are logged."""
    img = data_root.resolve() / "img"
    for summary in summaries:
        if summary.report is None:
            continue
        try:
            figures = json.loads(Path(summary.report).read_text(encoding="utf-8"))
            path = Path(summary.path).resolve()
            rel = str(path.relative_to(img)) if path.is_relative_to(img) else path.name
            message = {"item": item, "acquisition": rel, **figures}
            payload = json.dumps(message, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (OSError, ValueError, TypeError) as exc:
            log.warning("cannot publish the summary %s: %s", summary.report, exc)
            continue
        publisher.publish(SUMMARY_TOPIC, payload, qos=1, retain=True)
