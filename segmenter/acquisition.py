"""Finding acquisitions, their frames and metadata, and where their outputs go (SPEC 1)."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmenter.errors import AcquisitionError, ConfigError, SegmenterError
from streamer import contract
from streamer.journal import FrameStore
from streamer.layout import Layout
from streamer.report import read_summary
from worker.inputs import FileTooLarge, NotRegularFile, read_regular

log = logging.getLogger(__name__)

FRAME_SUFFIXES = (".jpg", ".jpeg")
METADATA = "metadata.json"
PREFIXES = ("sample_", "acq_", "object_", "process_")
MAX_METADATA_BYTES = 1_000_000


def is_frame(path: Path) -> bool:
    return path.suffix.lower() in FRAME_SUFFIXES and not path.name.startswith(".")


def list_frames(folder: Path) -> tuple[Path, ...]:
    """Frames directly in `folder`, in name order (= capture time order)."""
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise AcquisitionError(f"cannot list {folder}: {exc.strerror}") from exc
    frames = [Path(e.path) for e in entries if e.is_file() and is_frame(Path(e.name))]
    return tuple(sorted(frames, key=lambda p: p.name))


def find_acquisitions(path: Path, recursive: bool = True) -> list[Path]:
    """Folders holding metadata.json at or below `path` (only `path` if not recursive)."""
    if not path.exists():
        raise AcquisitionError(f"{path} does not exist")
    if not path.is_dir():
        raise AcquisitionError(f"{path} is not a folder")
    if (path / METADATA).is_file() or not recursive:
        return [path] if (path / METADATA).is_file() else []
    if (path / "img").is_dir():  # a data root: its acquisitions are below img/
        path = path / "img"
    found = [Path(root) for root, _dirs, files in os.walk(path) if METADATA in files]
    return sorted(found)


def resolve_data_root(path: Path, explicit: Path | None) -> Path:
    """--data-root; else the data root PATH is (it holds img/) or lies in (the folder
    holding the img/ above it); else $PLANKTOSCOPE_DATA_PATH."""
    if explicit is not None:
        return explicit.resolve()
    resolved = path.resolve()
    if (resolved / "img").is_dir():
        return resolved
    for parent in (resolved, *resolved.parents):
        if parent.name == "img":
            return parent.parent
    env = os.environ.get("PLANKTOSCOPE_DATA_PATH")
    if env:
        return Path(env).resolve()
    raise ConfigError(
        f"cannot tell the data root of {path}: it is not below an img/ folder; "
        "pass --data-root DIR or set PLANKTOSCOPE_DATA_PATH"
    )


def _number(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise AcquisitionError(
            f"metadata.json: {key} = {value!r} is not a positive number "
            "(micrometres per pixel); correct it or remove the key"
        )
    return number


def read_metadata(folder: Path) -> dict[str, Any]:
    """metadata.json as a dict, with a clear error for anything that is not a JSON object
    (only a regular file of at most MAX_METADATA_BYTES is read: a FIFO would block)."""
    path = folder / METADATA
    try:
        data = json.loads(read_regular(path, MAX_METADATA_BYTES).decode("utf-8"))
    except FileNotFoundError as exc:
        raise AcquisitionError(f"{folder} has no {METADATA}: it is not an acquisition") from exc
    except (NotRegularFile, FileTooLarge) as exc:
        raise AcquisitionError(f"{path} cannot be used: {exc.strerror}") from exc
    except RecursionError:
        raise AcquisitionError(
            f"{path} is nested too deeply to be metadata (EcoTaxa values are flat)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AcquisitionError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AcquisitionError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


@dataclass(frozen=True, slots=True)
class Acquisition:
    """One acquisition folder, its frames and metadata."""

    path: Path
    data_root: Path
    rel: Path
    frames: tuple[Path, ...]
    metadata: dict[str, Any]
    pixel_size_um: float | None

    @property
    def acq_id(self) -> str:
        return str(self.metadata["acq_id"])

    @property
    def sample_id(self) -> str:
        return str(self.metadata["sample_id"])

    @property
    def sample_folder(self) -> str:
        """The folder named after the sample in an archive laid out for EcoTaxa's batch
        upload (spaces become `_`, as in file names)."""
        return self.sample_id.replace(" ", "_")

    @property
    def project(self) -> str:
        return str(self.metadata.get("sample_project", ""))

    @property
    def layout(self) -> Layout:
        """Where its outputs go (file names of the 2026-03 contract)."""
        return Layout(self.data_root, self.rel, self.acq_id)

    def layout_for(self, compat: str) -> Layout:
        """Where its outputs go in an output contract (its file names differ)."""
        name_id = contract.file_id(compat, self.sample_id, self.acq_id)
        return Layout(self.data_root, self.rel, self.acq_id, name_id)

    def run_layout(self) -> Layout:
        """Where its last run put its outputs: the names of that run's contract (2026-03
        for a journal older than the contracts, or none yet)."""
        manifest = FrameStore(self.layout.objects_dir).manifest() or {}
        try:
            return self.layout_for(contract.of_manifest(manifest))
        except SegmenterError:  # a journal naming a contract this version does not know
            return self.layout


def ecotaxa_metadata(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Keys with an EcoTaxa prefix; ids as text (they may arrive as numbers)."""
    meta = {k: v for k, v in raw.items() if isinstance(k, str) and k.startswith(PREFIXES)}
    for key, fallback in (("acq_id", folder.name), ("sample_id", folder.parent.name)):
        if meta.get(key) in (None, ""):
            log.warning("%s: metadata.json has no %s, using %r", folder, key, fallback)
            meta[key] = fallback
    for key in ("acq_id", "sample_id", "sample_project"):
        if key in meta:
            meta[key] = str(meta[key])
    resolution = meta.get("acq_camera_resolution")
    if isinstance(resolution, list) and len(resolution) == 2:  # as the baseline writes it
        meta["acq_camera_resolution"] = f"{resolution[0]}x{resolution[1]}"
    acq_id = meta["acq_id"]
    if any(c in acq_id for c in "/\\\0\t\r\n") or acq_id in (".", ".."):
        raise AcquisitionError(f"metadata.json: acq_id {acq_id!r} cannot be used in a file name")
    return meta


def load_acquisition(folder: Path, data_root: Path, require_frames: bool = True) -> Acquisition:
    """Read one acquisition folder; every problem is one AcquisitionError saying what to do.
    `require_frames` False: a live acquisition, whose frames are still to come."""
    folder = folder.resolve()
    img_root = data_root.resolve() / "img"
    try:
        rel = folder.relative_to(img_root)
    except ValueError as exc:
        raise AcquisitionError(
            f"{folder} is not inside {img_root}; outputs are placed by the path below img/"
        ) from exc
    meta = ecotaxa_metadata(read_metadata(folder), folder)
    pixel = meta.get("process_pixel")
    pixel_size = None if pixel in (None, "") else _number(pixel, "process_pixel")
    frames = list_frames(folder)
    if not frames and require_frames:
        raise AcquisitionError(f"{folder} holds no .jpg frames")
    return Acquisition(folder, data_root.resolve(), rel, frames, meta, pixel_size)


def committed_counts(acq: Acquisition) -> tuple[int, int]:
    """(frames committed, objects) of an acquisition: a done one's from its report's
    summary when there is one (no journal to read), else counted in its journal."""
    layout = acq.run_layout()
    if layout.done_file.exists():
        known = read_summary(layout).get("objects")
        if isinstance(known, int):
            return len(acq.frames), known
    committed = objects = 0
    for frame in FrameStore(layout.objects_dir).frames_of([p.name for p in acq.frames]):
        committed += 1
        objects += len(frame.objects)
    return committed, objects


def announced_frames(metadata: dict[str, Any]) -> int | None:
    """metadata.json's acq_nb_frame (the frames the imager will write) when it is a
    positive whole number."""
    value = metadata.get("acq_nb_frame")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None
