"""Which files outside its journal this program wrote for an acquisition, so that a run
replaces or removes only those (issue 21: a symlinked folder may hold anything).

`objects/<rel>/.segmenter/outputs.json` lists them (paths below the data root): the TSV,
the zip, the report, the flat images. A path is claimed (recorded, durably) before it is
first written; one that exists and was never claimed is another's: `ForeignFile`. The
crops are the journal's business (`FrameStore`)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from streamer.errors import ForeignFile, storage_error
from streamer.files import atomic_write
from streamer.journal import STATE_DIR
from streamer.layout import Layout

log = logging.getLogger(__name__)

OUTPUTS = "outputs.json"


class Outputs:
    """The record of the files written for one acquisition outside its journal."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.path = layout.objects_dir / STATE_DIR / OUTPUTS

    def recorded(self) -> set[str]:
        """The paths claimed. A journal older than this record (a run.json, no
        outputs.json) owns the standard output names of its acquisition."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if not (self.path.parent / "run.json").is_file():
                return set()
            return {self._key(p) for p in run_outputs(self.layout, True, report=True, keep=True)}
        except (OSError, ValueError):
            return set()
        return {str(p) for p in data} if isinstance(data, list) else set()

    def _key(self, path: Path) -> str:
        return str(path.relative_to(self.layout.data_root))

    def owns(self, path: Path) -> bool:
        return self._key(path) in self.recorded()

    def claim(self, paths: Iterable[Path], *, shared: bool = False) -> None:
        """Record `paths` as ours before they are written; ForeignFile for the first
        one that exists unrecorded (nothing is recorded then). `shared`: a file another
        acquisition of the same archive name wrote may be taken over (--allow-same-archive)."""
        known = self.recorded()
        keys = set(known)
        for path in paths:
            key = self._key(path)
            taken_over = shared and self._written_for_another(key)
            if key not in known and os.path.lexists(path) and not taken_over:
                raise ForeignFile(path)
            keys.add(key)
        if keys != known:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error(self.path.parent, exc) from exc
            atomic_write(self.path, json.dumps(sorted(keys)).encode(), durable=True)

    def _written_for_another(self, key: str) -> bool:
        """Whether an acquisition sharing this one's archive name recorded `key`."""
        for rel in archive_users(self.layout):
            record = self.layout.data_root / "objects" / rel / STATE_DIR / OUTPUTS
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, list) and key in data:
                return True
        return False

    def claim_or_skip(self, path: Path) -> bool:
        """claim() for an optional file (a debug image): False, logged, when another's."""
        try:
            self.claim([path])
        except ForeignFile as exc:
            log.warning("%s; not written", exc)
            return False
        return True

    def remove(self, path: Path) -> None:
        """Delete `path` if ours."""
        if self.owns(path):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise storage_error(path, exc) from exc

    def remove_older_names(self) -> list[Path]:
        """After an acq_id change (or a contract switch): our TSVs of other names, and the
        zip and report files of each such name that no other acquisition's TSV still
        uses (`archive_users`). Only files we wrote; returns what was removed."""
        layout, removed = self.layout, []
        for key in sorted(self.recorded()):
            tsv = layout.data_root / key
            if tsv.parent != layout.objects_dir or tsv.suffix != ".tsv" or tsv == layout.tsv:
                continue
            if not archive_users(layout, tsv.name):
                older = layout.named(tsv.stem.removeprefix("ecotaxa_"))
                stale = [older.archive, *older.report_files()]
                removed += [p for p in stale if p.is_file() and self.owns(p)]
            if tsv.is_file():
                removed.append(tsv)
        for path in removed:
            self.remove(path)
            log.info("%s: removed %s (its acq_id changed)", layout.rel, path.name)
        return removed


def archive_users(layout: Layout, tsv_name: str | None = None) -> list[Path]:
    """The other acquisitions (paths below img/) whose TSV is `tsv_name` (default: this
    one's): they share an archive name. Only folders at the acquisition's own depth are
    looked at (a PlanktoScope's are all date/sample/acquisition; deeper ones hold crops)."""
    objects = layout.data_root / "objects"
    pattern = "/".join(["*"] * len(layout.rel.parts) + [tsv_name or layout.tsv.name])
    found = (tsv.parent.relative_to(objects) for tsv in objects.glob(pattern))
    return sorted(rel for rel in found if rel != layout.rel)


def run_outputs(layout: Layout, archive: bool, *, report: bool, keep: bool) -> list[Path]:
    """What a run writes outside the journal, by its settings."""
    paths = [layout.tsv]
    if archive:
        paths.append(layout.archive)
    if report:
        paths += layout.report_files()
    if keep:
        paths.append(layout.clean_dir / "flat_color.jpg")
    return paths
