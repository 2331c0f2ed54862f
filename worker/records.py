"""Small values that cross module and process boundaries.

Workers return `FrameResult`s (records and encoded crop bytes, never whole frames);
the parent commits them as one JSON line per frame; the EcoTaxa writer reads
`ObjectRecord`s back. Everything here is plain data: picklable and JSON-friendly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.qc import FrameQC

Feature = float | int


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """One segmented object: its id, crop file name, features in pixels (SPEC 2.5 names,
    then `focus`, `bw`, `bh`, `threshold`; a journal older than those lacks them) and its
    outer contour ([x, y] frame points; None in older journals)."""

    object_id: str
    img_file_name: str
    features: dict[str, Feature]
    contour: list[list[int]] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "object_id": self.object_id,
            "img_file_name": self.img_file_name,
            "features": self.features,
        }
        if self.contour is not None:
            data["contour"] = self.contour
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ObjectRecord:
        contour = data.get("contour")
        return cls(
            str(data["object_id"]),
            str(data["img_file_name"]),
            dict(data["features"]),
            None if contour is None else [[int(x), int(y)] for x, y in contour],
        )


@dataclass(frozen=True, slots=True)
class FrameResult:
    """What segmenting one frame produced. `crops[i]` is the JPEG of `objects[i]`."""

    index: int
    name: str
    objects: tuple[ObjectRecord, ...]
    crops: tuple[bytes, ...]
    flat_from: int  # the flat used: the one computed before this frame index
    seconds: float = 0.0
    preview: bytes | None = None  # the live preview's JPEG, when the task asked for one
    qc: FrameQC | None = None  # the frame's QC figures (worker.qc)

    @property
    def n_objects(self) -> int:
        return len(self.objects)


@dataclass(frozen=True, slots=True)
class FrameFailure:
    """A frame that could not be segmented; the run goes on without it."""

    index: int
    name: str
    reason: str


FrameOutcome = FrameResult | FrameFailure
