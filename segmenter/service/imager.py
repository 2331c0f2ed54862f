"""What the PlanktoScope imager says on `status/imager`, read into one `ImagerEvent`.

Its payloads (controller/imager/main.py of the PlanktoScope repository), QoS 0:
- `{"status":"Started"}` when an acquisition begins (metadata.json is already written);
- per frame, once the file is written and its line appended to integrity.check:
  `{"status":"Image i/N saved to <file name>"}`, then
  `{"type":"progress","path":"<full path of the frame>","current":i,"total":N}`, i from 1;
- at the end `{"status":"Done","path":"<acquisition folder>"}`, `{"status":"Interrupted"}`,
  or `{"status":"Image i/N WAS NOT CAPTURED! STOPPING THE PROCESS!"}`.
Anything else (Ready, Busy, Config updated, errors) is not about an acquisition's frames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

IMAGER_TOPIC = "status/imager"
NOT_CAPTURED = "WAS NOT CAPTURED! STOPPING THE PROCESS!"


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
