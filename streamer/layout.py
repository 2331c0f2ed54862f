"""Where an acquisition's outputs go under the data root (SPEC section 1), and the lock
that lets one process at a time work on an acquisition.

    objects/<rel>/              crops <frame stem>_<i>.jpg and ecotaxa_<acq_id>.tsv
    objects/<rel>/.segmenter/   the journal (see journal.py)
    clean/<rel>/                stuck_map.jpg (what stays dark on the flow cell), and
                                debug images (flat_color.jpg, with --keep)
    export/ecotaxa/             ecotaxa_<acq_id>.zip, and the report beside it:
                                mosaic_<acq_id>.jpg, size_spectrum_<acq_id>.png,
                                summary_<acq_id>.json, qc_<acq_id>.tsv (per frame),
                                qc_plot_<acq_id>.png
    img/<rel>/done.txt          written once the acquisition is complete

`<rel>` is the acquisition's path below `img/`; spaces in acq_id become `_` in file names,
as the old program wrote them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from streamer.errors import AcquisitionBusy, storage_error

DONE = "done.txt"
LOCK_FILE = ".segmenter.lock"  # beside the journal, which a --force run removes
# the quick-look report's files beside the archive (streamer.report), by kind
REPORT_FILES = {
    "mosaic": ".jpg", "size_spectrum": ".png", "summary": ".json", "qc": ".tsv", "qc_plot": ".png"
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Layout:
    """The output paths of one acquisition."""

    data_root: Path
    rel: Path  # the acquisition's folder below img/
    acq_id: str
    name_id: str | None = None  # the id in file names when not acq_id's (streamer.contract)

    @property
    def folder(self) -> Path:
        return self.data_root / "img" / self.rel

    @property
    def file_id(self) -> str:
        """The id in the file names: `name_id` when the output contract gives one, else
        acq_id as the baseline puts it in file names (spaces become `_`)."""
        return self.name_id if self.name_id is not None else self.acq_id.replace(" ", "_")

    @property
    def objects_dir(self) -> Path:
        return self.data_root / "objects" / self.rel

    @property
    def clean_dir(self) -> Path:
        return self.data_root / "clean" / self.rel

    @property
    def flow_cell_map(self) -> Path:
        """The map of what stays dark in every frame (segmenter.engine.flowcell)."""
        return self.clean_dir / "stuck_map.jpg"

    @property
    def tsv(self) -> Path:
        return self.objects_dir / f"ecotaxa_{self.file_id}.tsv"

    @property
    def archive(self) -> Path:
        return self.data_root / "export" / "ecotaxa" / f"ecotaxa_{self.file_id}.zip"

    def report_file(self, kind: str, suffix: str) -> Path:
        """`<kind>_<acq_id><suffix>` beside the archive (mosaic, size_spectrum, summary)."""
        return self.archive.with_name(f"{kind}_{self.file_id}{suffix}")

    def report_files(self) -> list[Path]:
        """Every file of the report (REPORT_FILES)."""
        return [self.report_file(kind, suffix) for kind, suffix in REPORT_FILES.items()]

    def named(self, name_id: str) -> Layout:
        """The same acquisition's paths under another id in the file names."""
        return Layout(self.data_root, self.rel, self.acq_id, name_id)

    @property
    def done_file(self) -> Path:
        return self.folder / DONE


@contextlib.contextmanager
def acquisition_lock(objects_dir: Path) -> Iterator[None]:
    """Hold the acquisition's advisory lock (one process at a time works on it). The
    lock file says who holds it, for the AcquisitionError a second process gets."""
    path = objects_dir / LOCK_FILE
    try:
        objects_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise storage_error(objects_dir, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise AcquisitionBusy(
                f"{objects_dir} is being segmented by {holder}: wait for it or stop it"
            ) from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} ({_program()}, since {started})\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (unlinking it would race)


def _program() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv else "python"
