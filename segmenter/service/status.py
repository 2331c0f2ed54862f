"""What the service publishes: the legacy status strings and the JSON messages.

The Node-RED dashboard lower-cases `status/segmenter` and matches substrings (SPEC 4), so
every text that is not a terminal status is checked here for the reserved words, and user
text (paths, messages) is scrubbed before it goes into an error status. Which unit of
work a status belongs to, and whether it goes out at all, is dashboard_stream.py's business.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from segmenter.errors import SegmenterError

STATUS_TOPIC = "status/segmenter"
QUEUE_TOPIC = "status/segmenter/queue"
PROGRESS_TOPIC = "status/segmenter/progress"
SUMMARY_TOPIC = "status/segmenter/summary"  # retained: the last acquisition's report figures
REPLY_TOPIC = "status/segmenter/reply"
PREVIEW_TOPIC = "status/segmenter/preview"  # retained: the latest preview's JSON companion
# retained: its JPEG, raw bytes; outside status/segmenter/# where every payload is JSON
PREVIEW_IMAGE_TOPIC = "preview/segmenter"
OBJECT_TOPIC = "status/segmenter/object_id"
METRIC_TOPIC = "status/segmenter/metric"
WARNING_TOPIC = "status/segmenter/warning"  # each QC warning once (segmenter.qc)
COMMAND_TOPIC = "segmenter/segment"

#: Words the dashboard reads as a state change; only terminal statuses may hold them.
RESERVED = ("done", "idle", "error", "exception", "interrupted", "dead", "busy", "ready")
_RESERVED_RE = re.compile("|".join(RESERVED), re.IGNORECASE)
#: What the dashboard's regex `/image ([\w\-\_\.]+),/` accepts as a frame name (JS \w: ASCII).
_FRAME_NAME_RE = re.compile(r"[\w\-.]+", re.ASCII)


class Status(StrEnum):
    """The fixed legacy strings (SPEC 4)."""

    READY = "Ready"
    STARTED = "Started"
    FLAT = "Calculating flat"
    DONE = "Done"
    INTERRUPTED = "Interrupted"
    DEAD = "Dead"


class Info(StrEnum):
    """Informational statuses (answers to `update_config`, a legacy command): none holds
    a reserved word (checked by the tests)."""

    CONFIG_UPDATED = "Config updated"
    CONFIG_REFUSED = (
        "Config unchanged: an item is being segmented; send update_config again "
        "when the queue has finished"
    )


class Publisher(Protocol):
    """What the service needs from a transport (the MQTT adapter, or a test double)."""

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False
    ) -> None: ...


def reserved_words(text: str) -> list[str]:
    """The reserved words found in `text`, lower-cased, in order."""
    return [m.group(0).lower() for m in _RESERVED_RE.finditer(text)]


def check_plain(text: str) -> str:
    """Return `text` if no reserved word is in it; raise ValueError otherwise."""
    found = reserved_words(text)
    if found:
        raise ValueError(f"status text {text!r} holds reserved word(s) {found}")
    return text


def scrub(text: str) -> str:
    """Mask reserved words inside user text: `done.txt` becomes `d***.txt`."""
    return _RESERVED_RE.sub(lambda m: m.group(0)[0] + "*" * (len(m.group(0)) - 1), text)


def safe_frame_name(name: str | None, index: int) -> str:
    """The frame name if the dashboard can parse it and it holds no reserved word."""
    if name and _FRAME_NAME_RE.fullmatch(name) and not reserved_words(name):
        return name
    return f"frame_{index:06d}.jpg"


def progress_text(name: str | None, index: int, total: int) -> str:
    """`Segmenting image <name>, image <i>/<N>`, `index` counting from 1."""
    return check_plain(f"Segmenting image {safe_frame_name(name, index)}, image {index}/{total}")


def exception_text(reason: str) -> str:
    """An error status in the baseline's form, which the dashboard shows as an error:
    `An exception was raised during the segmentation: <reason>.`, reserved words inside
    the reason masked (`done.txt` becomes `d***.txt`), on one line."""
    text = scrub(" ".join(reason.split()))[:400].rstrip(" .") or "unknown"
    return f"An exception was raised during the segmentation: {text}."


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode(message: object) -> bytes:
    """A dataclass message as strict JSON (no NaN: the dashboard's parser rejects it).
    Its fields are taken as they are (no message nests another; `asdict`'s deep copy
    was most of the cost of publishing a long queue)."""
    data = {f.name: getattr(message, f.name) for f in fields(message)}  # type: ignore[arg-type]
    return json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class StatusMessage:
    status: str


@dataclass(frozen=True, slots=True)
class ObjectIdMessage:
    """`status/segmenter/object_id`: as the old program, the object's label as text."""

    object_id: str


@dataclass(frozen=True, slots=True)
class MetricMessage:
    name: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, object_id: str, features: dict[str, Any]) -> MetricMessage:
        return cls(object_id, {k: _finite(v) for k, v in features.items()})


@dataclass(frozen=True, slots=True)
class ReplyMessage:
    """The answer to one command, for clients that follow their own commands."""

    id: str | None
    action: str
    ok: bool
    message: str
    item: str | None = None


@dataclass(frozen=True, slots=True)
class ProgressMessage:
    """Retained on status/segmenter/progress: where the running item is."""

    item: str | None
    state: str  # running, done, interrupted, failed, idle
    acquisition: str | None = None
    acquisition_index: int = 0
    acquisitions: int = 0
    phase: str | None = None
    frame: int = 0
    frames: int = 0
    objects: int = 0
    failed_frames: int = 0
    fps: float | None = None
    eta_s: float | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)  # the acquisition's QC ones


@dataclass(frozen=True, slots=True)
class WarningMessage:
    """status/segmenter/warning: one QC warning (segmenter.qc), once, as it begins to hold."""

    item: str | None
    acquisition: str
    kind: str  # focus, drift, static, empty
    frame: int  # where its condition began (index from 0)
    name: str  # that frame's file name
    message: str


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """Retained on status/segmenter/queue: every item the service knows of."""

    paused: bool
    running: str | None
    items: list[dict[str, Any]] = field(default_factory=list)


def public_text(text: str, data_root: Path) -> str:
    """`text` as it may go to every subscriber: paths below the data root relative to
    it (`/home/pi/data/img/a` becomes `img/a`)."""
    root = str(data_root)
    return text.replace(root + "/", "").replace(root, ".")


def error_message(exc: BaseException) -> str:
    """An exception as a sentence for a reply or a status (never its repr): a storage
    error names its file; one nobody foresaw says so and where the details are."""
    if isinstance(exc, SegmenterError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"internal error ({detail}); the service log has the details"


def public_item(item: dict[str, Any], data_root: Path) -> dict[str, Any]:
    """A queue item (QueueItem.to_json) as published: its paths relative to the data root."""
    out = dict(item)
    for key in ("paths", "archives", "begun"):
        out[key] = [public_text(p, data_root) for p in item.get(key, [])]
    if item.get("message"):
        out["message"] = public_text(item["message"], data_root)
    return out
