"""The server-side queue: items, their states and counts, kept on disk.

Saved atomically (temporary name, fsync, rename) as `<data root>/.segmenter/queue.json`
after every change, so a restart loses nothing: an item that was running when the
service died, or that a shutdown interrupted, runs again first (the engine resumes it
from its committed frames). Items a user stopped stay interrupted. Not thread-safe: the
service holds its lock around every call.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from segmenter import rules
from segmenter.errors import ConfigError, SegmenterError
from segmenter.settings import RunSettings, default_workers
from streamer.files import atomic_write

log = logging.getLogger(__name__)

STATE_FILE = Path(".segmenter") / "queue.json"
MAX_PENDING = 1000
HISTORY = 100


class ItemState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


FINISHED = frozenset({ItemState.DONE, ItemState.INTERRUPTED, ItemState.FAILED})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class QueueItem:
    """One accepted `segment`: its paths, the settings it runs with, where it got to.
    `settings` holds the RunSettings' fields and `workers`, the item's worker processes
    (status/segmenter/queue shows them all)."""

    id: str
    paths: list[str]
    settings: dict[str, Any]
    state: ItemState = ItemState.PENDING
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    acquisitions: int = 0
    acquisitions_done: int = 0
    frames_done: int = 0
    objects: int = 0
    failed_frames: int = 0
    archives: list[str] = field(default_factory=list)
    message: str | None = None
    resume: bool = False  # a shutdown interrupted it: run it again at the next start
    begun: list[str] = field(default_factory=list)  # acquisitions whose run began

    @property
    def run_settings(self) -> RunSettings:
        return RunSettings(**{k: v for k, v in self.settings.items() if k != "workers"})

    @property
    def workers(self) -> int:
        """The worker processes it runs with (0 or none in the file: the default count)."""
        count = self.settings.get("workers", 0)
        return rules.workers(count, "workers") if count != 0 else default_workers()

    def to_json(self) -> dict[str, Any]:
        """A copy as plain JSON values (by hand: `asdict` deep-copies, 10x slower)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["state"] = self.state.value
        for key in ("paths", "archives", "begun"):
            data[key] = list(data[key])
        data["settings"] = dict(self.settings)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueueItem:
        known = set(cls.__dataclass_fields__)
        item = cls(**{k: v for k, v in data.items() if k in known})
        item.state = ItemState(item.state)
        item.run_settings, item.workers  # noqa: B018  (validates the stored settings)
        return item


class JobQueue:
    """Pending items in order, the running one, and a bounded history of finished ones."""

    def __init__(self, data_root: Path, max_pending: int = MAX_PENDING) -> None:
        self.path = data_root / STATE_FILE
        self.max_pending = max_pending
        self.pending: list[QueueItem] = []
        self.current: QueueItem | None = None
        self.history: deque[QueueItem] = deque(maxlen=HISTORY)
        self.paused = False

    # -- persistence -----------------------------------------------------------------
    def load(self) -> list[QueueItem]:
        """Read the saved queue; returns the items that will resume first."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            items = [QueueItem.from_json(d) for d in data["items"]]
            paused = bool(data.get("paused", False))
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError, SegmenterError) as exc:
            bad = self.path.with_name(f"queue.json.bad-{int(time.time())}")
            log.error("%s is unreadable (%s); kept as %s, starting empty", self.path, exc, bad)
            self.path.replace(bad)
            return []
        resumed: list[QueueItem] = []
        for item in items:
            if item.state is ItemState.RUNNING or (
                item.state is ItemState.INTERRUPTED and item.resume
            ):
                item.state, item.resume = ItemState.PENDING, True
                resumed.append(item)
            elif item.state is ItemState.PENDING:
                self.pending.append(item)
            else:
                self.history.append(item)
        self.pending[:0] = resumed
        self.paused = paused
        return resumed

    def save(self, items: list[dict[str, Any]] | None = None) -> None:
        """Write the queue (`items`: its snapshot_items(), when already taken) atomically;
        a failure is logged, the queue goes on in memory."""
        items = self.snapshot_items() if items is None else items
        data = {"version": 1, "paused": self.paused, "items": items}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(data, indent=1).encode("utf-8"), durable=True)
        except (OSError, SegmenterError) as exc:
            log.error("cannot save the queue to %s: %s", self.path, exc)

    # -- queries ---------------------------------------------------------------------
    def snapshot_items(self) -> list[dict[str, Any]]:
        items = [*self.history, *([self.current] if self.current else []), *self.pending]
        return [i.to_json() for i in items]

    def find(self, item_id: str) -> QueueItem | None:
        for item in (*self.pending, *([self.current] if self.current else []), *self.history):
            if item.id == item_id:
                return item
        return None

    def runnable(self) -> bool:
        return bool(self.pending) and not self.paused

    def new_id(self) -> str:
        while True:
            candidate = uuid.uuid4().hex[:12]
            if self.find(candidate) is None:
                return candidate

    # -- changes ---------------------------------------------------------------------
    def add(self, item: QueueItem) -> int:
        """Append a pending item; returns its position (1 = next to run)."""
        if self.find(item.id) is not None:
            raise ConfigError(f"id: {item.id} is already used by an item of the queue")
        if len(self.pending) >= self.max_pending:
            raise ConfigError(f"path: the queue is full ({self.max_pending} pending items)")
        self.pending.append(item)
        return len(self.pending)

    def take_next(self) -> QueueItem | None:
        """The next pending item, now running (None when empty or paused)."""
        if not self.runnable():
            return None
        item = self.pending.pop(0)
        item.state, item.started, item.message = ItemState.RUNNING, _now(), None
        self.current = item
        return item

    def finish(self, item: QueueItem, state: ItemState, message: str | None = None) -> None:
        item.state, item.finished = state, _now()
        item.message = message
        if self.current is item:
            self.current = None
        self.history.append(item)  # with `resume` set, load() puts it back in front

    def requeue(self, item: QueueItem) -> None:
        """The running item gave way (to a live acquisition): first again, to resume
        from its journal; its counts start over (the acquisitions done are skipped)."""
        if self.current is item:
            self.current = None
        item.state, item.started, item.message = ItemState.PENDING, None, None
        item.acquisitions_done = item.frames_done = item.objects = item.failed_frames = 0
        item.archives = []
        self.pending.insert(0, item)

    def cancel(self, item_id: str, why: str) -> QueueItem | None:
        """Take pending item `item_id` out of the queue, interrupted; None if not pending."""
        for item in self.pending:
            if item.id == item_id:
                self.pending.remove(item)
                self._drop(item, why)
                return item
        return None

    def dequeue(self, item_id: str) -> QueueItem:
        item = self.cancel(item_id, "removed from the queue (dequeue)")
        if item is not None:
            return item
        if self.current is not None and self.current.id == item_id:
            raise ConfigError(f"item: {item_id} is running; send a stop to end it")
        raise ConfigError(f"item: no pending item has the id {item_id}")

    def reorder(self, order: tuple[str, ...]) -> None:
        """Move the listed pending items to the front, in that order; others keep theirs."""
        by_id = {item.id: item for item in self.pending}
        unknown = [i for i in order if i not in by_id]
        if unknown:
            raise ConfigError(f"order: {', '.join(unknown)} is not a pending item")
        front = [by_id[i] for i in order]
        self.pending = front + [item for item in self.pending if item.id not in order]

    def drop_pending(self) -> list[QueueItem]:
        dropped, self.pending = self.pending, []
        for item in dropped:
            self._drop(item, "dropped from the queue by a stop of scope all")
        return dropped

    def _drop(self, item: QueueItem, why: str) -> None:
        item.state, item.finished, item.message = ItemState.INTERRUPTED, _now(), why
        item.resume = False
        self.history.append(item)
