"""Archive names: `ecotaxa_<acq_id>.zip` is named by metadata.json's acq_id, which is
typed by hand on a PlanktoScope and often reused. Who uses a name is read from the TSVs
(`objects/<folder>/ecotaxa_<acq_id>.tsv`): a run whose archive another acquisition's
TSV names is refused unless allowed, and an acquisition's older names (its other TSVs,
left by an acq_id change) go with their zip and report files when no one else uses them.

Only folders at the acquisition's own depth below img/ are looked at (a PlanktoScope's
are all date/sample/acquisition): the folders deeper down hold the crops."""

from __future__ import annotations

import logging
from pathlib import Path

from segmenter.errors import AcquisitionError
from streamer.layout import Layout

log = logging.getLogger(__name__)
REPORT_KINDS = ("mosaic", "size_spectrum", "summary")  # report.py's files beside the zip


def users(layout: Layout, tsv_name: str | None = None) -> list[Path]:
    """The other acquisitions (below img/) whose TSV is `tsv_name` (default: this one's)."""
    objects = layout.data_root / "objects"
    pattern = "/".join(["*"] * len(layout.rel.parts) + [tsv_name or layout.tsv.name])
    found = (tsv.parent.relative_to(objects) for tsv in objects.glob(pattern))
    return sorted(rel for rel in found if rel != layout.rel)


def check_name(layout: Layout, allow_shared: bool) -> None:
    """AcquisitionError naming both folders when another acquisition's archive has this
    one's name (unless `allow_shared`: then the later run's archive replaces it)."""
    others = users(layout)
    if others and not allow_shared:
        raise AcquisitionError(
            f"img/{layout.rel} and img/{others[0]} both have acq_id {layout.acq_id!r}, so "
            f"both archives would be {layout.archive.name}, the later replacing the other: "
            "give one of them another acq_id in its metadata.json (then segmenter export), "
            "or pass --allow-same-archive"
        )
    if others:
        log.warning("%s: replaces the archive of img/%s", layout.archive.name, others[0])


def remove_stale(layout: Layout) -> list[Path]:
    """After an acq_id change: the acquisition's TSVs of other names, and the zip and
    report files of each name no other acquisition uses. Returns what was removed."""
    removed: list[Path] = []
    for tsv in sorted(layout.objects_dir.glob("ecotaxa_*.tsv")):
        if tsv == layout.tsv:
            continue
        old_id = tsv.stem.removeprefix("ecotaxa_")
        if not users(layout, tsv.name):
            export = layout.archive.parent
            stale = [export / f"ecotaxa_{old_id}.zip"]
            stale += [p for kind in REPORT_KINDS for p in export.glob(f"{kind}_{old_id}.*")]
            removed += [p for p in stale if p.is_file()]
        removed.append(tsv)
    for path in removed:
        path.unlink(missing_ok=True)
        log.info("%s: removed %s (acq_id changed)", layout.rel, path.name)
    return removed
