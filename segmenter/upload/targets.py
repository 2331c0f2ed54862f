"""Which archives `segmenter upload PATH...` sends: every acquisition at or below each PATH,
its archive found where `segment` and `export` write it (streamer.layout)."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from segmenter.acquisition import find_acquisitions, load_acquisition, resolve_data_root
from segmenter.errors import SegmenterError


@dataclass(frozen=True, slots=True)
class Target:
    """An acquisition's archive, ready to send."""

    acquisition: str  # below img/
    archive: Path
    sample_id: str
    acq_id: str
    objects: int  # in the archive's TSV


def archive_objects(archive: Path) -> int:
    """The objects (TSV rows past the name and type lines) of an EcoTaxa zip."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [Path(n).name for n in zf.namelist()]
            tsvs = [n for n, base in zip(zf.namelist(), names, strict=True)
                    if base.startswith("ecotaxa") and base.endswith((".tsv", ".txt"))]  # fmt: skip
            rows = 0
            for name in tsvs:
                with zf.open(name) as fh:
                    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
                    rows += max(
                        0, sum(1 for row in csv.reader(text, dialect="excel-tab") if row) - 2
                    )
    except (OSError, zipfile.BadZipFile) as exc:
        raise SegmenterError(f"cannot read {archive}: {exc}; run `segmenter export` again") from exc
    return rows


def target_of(folder: Path, data_root: Path) -> Target:
    """The archive of the acquisition in `folder`; one clear error when there is none."""
    acq = load_acquisition(folder, data_root, require_frames=False)
    archive = acq.layout.archive
    if not acq.layout.done_file.is_file() or not archive.is_file():
        raise SegmenterError(
            f"{acq.rel}: no finished archive ({archive}): run `segmenter segment {folder}` first"
        )
    return Target(str(acq.rel), archive, acq.sample_id, acq.acq_id, archive_objects(archive))


def find_targets(
    paths: list[Path], data_root: Path | None
) -> tuple[dict[Path, list[Target]], list[str]]:
    """Targets by data root, and one error line per acquisition that cannot be sent."""
    found: dict[Path, list[Target]] = {}
    errors: list[str] = []
    for path in paths:
        try:
            root = resolve_data_root(path, data_root)
            folders = find_acquisitions(path)
            if not folders:
                raise SegmenterError(f"no acquisition (folder with metadata.json) at {path}")
        except SegmenterError as exc:
            errors.append(str(exc))
            continue
        for folder in folders:
            try:
                found.setdefault(root, []).append(target_of(folder, root))
            except SegmenterError as exc:
                errors.append(str(exc))
    return found, errors
