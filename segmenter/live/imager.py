"""What the PlanktoScope imager writes and publishes while it acquires, as its code does it
(fairscope/PlanktoScope, controller/integrity.py and controller/imager/main.py): the
writing side for the replay tool and synthetic data, and the reading side
(`parse_imager`) for the service, which follows the imager.

On disk: the folder, `metadata.json`, then `integrity.check` with a two-line header and a
first line for metadata.json; per frame, the camera writes the JPEG in place and fsyncs it,
then one line `name,size,sha1` is appended, the sha1 being of the file *name*, a NUL byte
and the content. On `status/imager` (QoS 0, not retained): `Started`; per frame the text
status `Image i/N saved to <name>` then the progress event (`current` from 1, `path` the
frame's full path); at the end `Done` with the folder, or `Interrupted`, or the text
`Image i/N WAS NOT CAPTURED! STOPPING THE PROCESS!` (frame i was not there).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

TOPIC = "status/imager"
NOT_CAPTURED = "WAS NOT CAPTURED! STOPPING THE PROCESS!"
QOS = 0  # the imager's paho publish() calls give no qos
INTEGRITY_FILE = "integrity.check"
INTEGRITY_HEADER = (
    "# planktoscope integrity file, see https://www.planktoscope.org\n",
    "# filename,size,sha1\n",
)


def checksum(name: str, data: bytes) -> str:
    """The imager's sha1: of the file name, a NUL byte, then the content."""
    return hashlib.sha1(name.encode() + b"\0" + data, usedforsecurity=False).hexdigest()


def integrity_line(name: str, data: bytes) -> str:
    return f"{name},{len(data)},{checksum(name, data)}\n"


@dataclass(frozen=True, slots=True)
class IntegrityEntry:
    name: str
    size: int
    sha1: str


def parse_integrity_line(line: bytes) -> IntegrityEntry | None:
    """One complete line of integrity.check; None for the header and anything malformed."""
    text = line.decode("utf-8", "surrogateescape").rstrip("\r\n")
    if not text or text.startswith("#"):
        return None
    name, _, rest = text.rpartition(",")  # a name may hold commas, the other fields not
    name, _, size = name.rpartition(",")
    if not name or not size.isdigit() or len(rest) != 40:
        return None
    return IntegrityEntry(name, int(size), rest)


def _compact(data: dict[str, object]) -> bytes:
    """The imager's hand-written JSON texts: no spaces."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def started() -> bytes:
    return _compact({"status": "Started"})


def saved(current: int, total: int, name: str) -> bytes:
    return _compact({"status": f"Image {current}/{total} saved to {name}"})


def progress(path: str, current: int, total: int) -> bytes:
    """json.dumps with its default separators, as the imager calls it."""
    event = {"type": "progress", "path": path, "current": current, "total": total}
    return json.dumps(event).encode()


def done(folder: str) -> bytes:
    return json.dumps({"status": "Done", "path": folder}).encode()


def interrupted() -> bytes:
    return _compact({"status": "Interrupted"})


def not_captured(current: int, total: int) -> bytes:
    return _compact({"status": f"Image {current}/{total} {NOT_CAPTURED}"})


# -- reading what the imager publishes (the service follows it) ---------------------
class Kind(StrEnum):
    STARTED = "started"
    FRAME = "frame"  # a frame is complete
    DONE = "done"
    INTERRUPTED = "interrupted"
    NOT_CAPTURED = "not captured"


#: Why the acquisition ended, as the live status says it.
END_REASONS = {
    Kind.DONE: "the imager said Done",
    Kind.INTERRUPTED: "the imager was interrupted",
    Kind.NOT_CAPTURED: "the imager could not capture a frame and stopped",
}


@dataclass(frozen=True, slots=True)
class ImagerEvent:
    kind: Kind
    path: Path | None = None  # FRAME: the frame; DONE: the acquisition folder
    current: int | None = None
    total: int | None = None

    @property
    def folder(self) -> Path | None:
        """The acquisition folder the event is about, when it says."""
        if self.path is None:
            return None
        return self.path.parent if self.kind is Kind.FRAME else self.path


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_imager(payload: bytes) -> ImagerEvent | None:
    """The event a payload is, or None when it is none of the above (or unreadable)."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    if data.get("type") == "progress":
        path = data.get("path")
        if not isinstance(path, str) or not path:
            return None
        current, total = _count(data.get("current")), _count(data.get("total"))
        return ImagerEvent(Kind.FRAME, Path(path), current, total)
    status = data.get("status")
    if not isinstance(status, str):
        return None
    if status == "Started":
        return ImagerEvent(Kind.STARTED)
    if status == "Interrupted":
        return ImagerEvent(Kind.INTERRUPTED)
    if status == "Done":
        path = data.get("path")
        return ImagerEvent(Kind.DONE, Path(path) if isinstance(path, str) and path else None)
    if NOT_CAPTURED in status:
        return ImagerEvent(Kind.NOT_CAPTURED)
    return None
