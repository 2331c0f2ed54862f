"""Progress events: the engine reports, adapters (terminal bar, MQTT) decide how often to
show them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worker.records import ObjectRecord


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress event; adapters (terminal bar, MQTT) decide how often to show it."""

    phase: str  # "start", "flat", "frame", "archive", "end"
    acquisition: Path
    done: int
    total: int
    objects: int
    failed: int
    frame: str | None = None
    elapsed: float = 0.0
    committed: tuple[ObjectRecord, ...] = ()  # phase "frame": the objects of that frame


ProgressCallback = Callable[[Progress], None]
