"""The acquisitions the benchmark measures: synthesised, or a given one linked in.

Everything is placed under a work folder laid out as a data root (`img/...`), so the
engine writes its outputs (`objects/`, `export/`) there and never next to the user's
data. Longer acquisitions for the memory and stop measurements reuse the frames of a
dataset under new, later frame names (hard links, or symlinks across file systems).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmark.common import Json
from segmenter.acquisition import list_frames, read_metadata
from segmenter.synth import SynthSpec, write_acquisition
from worker.decode import jpeg_size

START = datetime(2026, 3, 10, 10, 0, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Dataset:
    """One acquisition under a data root, and what it is."""

    name: str
    folder: Path
    data_root: Path
    frames: tuple[Path, ...]
    width: int
    height: int
    pixel_size_um: float | None
    objects_target: float | None  # mean organisms per frame asked of the synthesiser
    source: str  # "synthetic" or the given acquisition's path

    @property
    def frame_bytes(self) -> int:
        """Size of one decoded frame as uint8 BGR."""
        return self.width * self.height * 3

    def info(self) -> Json:
        return {
            "name": self.name,
            "source": self.source,
            "folder": str(self.folder),
            "frames": len(self.frames),
            "width": self.width,
            "height": self.height,
            "frame_bytes": self.frame_bytes,
            "pixel_size_um": self.pixel_size_um,
            "objects_per_frame_target": self.objects_target,
        }


def _pixel_size(folder: Path) -> float | None:
    value = read_metadata(folder).get("process_pixel")
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _frame_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        size = jpeg_size(fh.read(1 << 20))
    if size is None:
        raise ValueError(f"{path}: not a readable JPEG header")
    return size


def dataset_at(
    name: str, folder: Path, *, data_root: Path, target: float | None, source: str
) -> Dataset:
    frames = list_frames(folder)
    if not frames:
        raise ValueError(f"{folder} holds no .jpg frames")
    width, height = _frame_size(frames[0])
    return Dataset(
        name, folder, data_root, frames, width, height, _pixel_size(folder), target, source
    )


def synth_datasets(
    workdir: Path, frames: int, *, densities: list[float], size: tuple[int, int], seed: int
) -> list[Dataset]:
    """One synthetic acquisition per density, each under its own data root."""
    out = []
    for i, objects in enumerate(densities):
        root = workdir / f"synth_{i}"
        spec = SynthSpec(
            frames=frames,
            objects=round(objects),
            width=size[0],
            height=size[1],
            seed=seed + i,
        )
        folder = write_acquisition(root, spec)
        out.append(
            dataset_at(
                f"{objects:g} obj/frame", folder, data_root=root, target=objects, source="synthetic"
            )
        )
    return out


def frame_name(i: int, start: datetime = START) -> str:
    """Imager-style frame names one second apart: name order = index order."""
    return f"{start + timedelta(seconds=i):%Y-%m-%d_%H-%M-%S-%f}.jpg"


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        os.symlink(src.resolve(), dst)


def linked_acquisition(src: Dataset, root: Path, *, n_frames: int, acq_id: str) -> Dataset:
    """An acquisition of `n_frames` under `root`, frame i being src frame i mod len(src)."""
    meta = read_metadata(src.folder)
    meta.update({"acq_id": acq_id, "acq_nb_frame": n_frames, "sample_id": "bench"})
    folder = root / "img" / "2026-03-10" / "bench" / acq_id
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for i in range(n_frames):
        _link(src.frames[i % len(src.frames)], folder / frame_name(i))
    text = json.dumps(meta, ensure_ascii=False, indent=2)
    (folder / "metadata.json").write_text(text + "\n", encoding="utf-8")
    return dataset_at(
        f"{src.name}, {n_frames} frames",
        folder,
        data_root=root,
        target=src.objects_target,
        source=src.source,
    )


def given_dataset(workdir: Path, acquisition: Path, frames: int | None) -> Dataset:
    """A user's acquisition linked under the work folder (outputs stay in the work folder)."""
    acquisition = acquisition.resolve()
    if not (acquisition / "metadata.json").is_file():
        raise ValueError(f"{acquisition} holds no metadata.json: it is not an acquisition")
    original = dataset_at(
        "given", acquisition, data_root=acquisition, target=None, source=str(acquisition)
    )
    count = min(frames or len(original.frames), len(original.frames))
    linked = linked_acquisition(original, workdir / "given", n_frames=count, acq_id="bench_given")
    return Dataset(
        f"{acquisition.name} ({count} frames)",
        linked.folder,
        linked.data_root,
        linked.frames,
        linked.width,
        linked.height,
        linked.pixel_size_um,
        None,
        str(acquisition),
    )
