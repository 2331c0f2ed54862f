"""An acquisition's EcoTaxa outputs from its committed frames: the TSV in its objects
folder and the zip in export/ecotaxa/. Shared by the end of a run and `segmenter export`."""

from __future__ import annotations

from pathlib import Path

from streamer import ecotaxa
from streamer.archive import ArchiveWriter, write_archive
from streamer.errors import storage_error
from streamer.files import remove_temporaries
from streamer.journal import FrameStore
from streamer.layout import Layout
from streamer.owned import Outputs
from streamer.report import KINDS


def write_tsv_and_archive(
    store: FrameStore,
    layout: Layout,
    *,
    cells: ecotaxa.AcquisitionCells,
    frames: int,
    archive: bool | ArchiveWriter = True,
    folder: str = "",
) -> Path | None:
    """From the objects of the first `frames` committed frames: remove crops no frame
    names, write the TSV, then (with `archive`) the zip, its members in `folder` if given;
    `archive` may be the writer that took those frames' crops as they committed
    (`open_archive`), which the TSV then completes. Returns the zip's path."""
    names = archive.names if isinstance(archive, ArchiveWriter) else None
    if names is None:
        names = [o.img_file_name for o in store.objects(frames)]
    store.remove_stale_crops(names)
    ecotaxa.write_tsv(layout.tsv, cells, store.objects(frames))
    Outputs(layout).remove_older_names()  # of an earlier acq_id
    if isinstance(archive, ArchiveWriter):
        return archive.finish(layout.tsv)
    if not archive:
        return None
    try:
        layout.archive.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(layout.archive.parent, exc) from exc
    objects = store.objects(frames)
    write_archive(
        layout.archive, layout.tsv, crops_dir=layout.objects_dir, objects=objects, folder=folder
    )
    return layout.archive


def open_archive(
    store: FrameStore, layout: Layout, frames: int, *, folder: str = ""
) -> ArchiveWriter:
    """The zip of a run, to be fed as frames commit (`FrameStore.on_commit`): started with
    the crops of the first `frames` committed frames (those a resumed run keeps)."""
    writer = ArchiveWriter(layout.archive, layout.objects_dir, folder=folder)
    try:
        for record in store.objects(frames):
            writer.add(record.img_file_name)
    except BaseException:
        writer.abort()
        raise
    return writer


def remove_leftovers(layout: Layout, store: FrameStore) -> int:
    """The temporary files a killed run, export or report left for this acquisition
    (never visible under a final name); only under the acquisition's lock. Returns how
    many were removed."""
    state = store.state_dir
    folders = [layout.objects_dir, state, state / "frames", layout.clean_dir]
    removed = sum(remove_temporaries(folder) for folder in folders)
    export = layout.archive.parent
    for name in (layout.archive.name, *(f"{kind}_{layout.file_id}" for kind in KINDS)):
        removed += remove_temporaries(export, f".{name}.")
    return removed + remove_temporaries(layout.folder, f".{layout.done_file.name}.")
