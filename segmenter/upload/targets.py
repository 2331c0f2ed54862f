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


def archive_contents(archive: Path) -> tuple[int, str, str]:
    """The objects (TSV rows past the name and type lines) of an EcoTaxa zip, and the
    sample_id and acq_id its first row gives EcoTaxa (the output contract decides them:
    2026-06 writes the combined id in both)."""
    rows, ids = 0, ("", "")
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            tsvs = [
                n
                for n in names
                if Path(n).name.startswith("ecotaxa") and n.endswith((".tsv", ".txt"))
            ]
            for name in tsvs:
                with zf.open(name) as fh:
                    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
                    table = [row for row in csv.reader(text, dialect="excel-tab") if row]
                rows += max(0, len(table) - 2)
                if len(table) > 2 and not ids[0]:
                    first = dict(zip(table[0], table[2], strict=False))
                    ids = (first.get("sample_id", ""), first.get("acq_id", ""))
    except (OSError, zipfile.BadZipFile) as exc:
        raise SegmenterError(f"cannot read {archive}: {exc}; run `segmenter export` again") from exc
    return rows, *ids


def target_of(folder: Path, data_root: Path) -> Target:
    """The archive of the acquisition in `folder`; one clear error when there is none."""
    acq = load_acquisition(folder, data_root, require_frames=False)
    layout = acq.run_layout()
    archive = layout.archive
    if not layout.done_file.is_file() or not archive.is_file():
        raise SegmenterError(
            f"{acq.rel}: no finished archive ({archive}): run `segmenter segment {folder}` first"
        )
    objects, sample_id, acq_id = archive_contents(archive)
    return Target(str(acq.rel), archive, sample_id or acq.sample_id, acq_id or acq.acq_id, objects)


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
