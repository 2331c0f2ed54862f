"""The EcoTaxa zip (SPEC section 3), written as frames commit.

`ArchiveWriter` appends each committed frame's crops (stored: JPEGs are compressed
already) to a temporary file beside the zip, in frame order; `finish` adds the TSV
(deflated), writes the central directory, the TSV listed first as EcoTaxa's own
archives do, and renames the file to the zip's name. After the last frame only the TSV
and the central directory remain to write. A run killed before `finish` leaves only the
temporary file, which the next run removes (`outputs.remove_leftovers`) and rebuilds from
the journal. `write_archive` is the same writer fed from the crops folder at once (the
`segmenter export` path).
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from streamer.ecotaxa import BREAKS, check_file_name, tsv_column
from streamer.errors import EcoTaxaError, StorageError, storage_error
from streamer.files import install, temporary_path
from worker.records import ObjectRecord


class ArchiveWriter:
    """One EcoTaxa zip under construction: `add` crops in order, then `finish` (or
    `abort`). Members at the root, or with `folder` all in that one top folder (the
    layout EcoTaxa's batch upload takes, a folder per sample)."""

    def __init__(self, zip_path: Path, crops_dir: Path, *, folder: str = "") -> None:
        _check_folder(folder)
        self.path, self.crops_dir = zip_path, crops_dir
        self.prefix = f"{folder}/" if folder else ""
        self.names: list[str] = []  # the crops added, in order
        self._tmp = temporary_path(zip_path)
        try:
            zip_path.parent.mkdir(parents=True, exist_ok=True)
            self._zip: zipfile.ZipFile | None = zipfile.ZipFile(self._tmp, "x")
        except OSError as exc:
            raise storage_error(zip_path, exc) from exc

    def add(self, name: str, data: bytes | None = None) -> None:
        """Append the crop `crops_dir / name` (`data`: its bytes, when the caller has
        them; its time stamp is the file's either way)."""
        check_file_name(name)
        crop = self.crops_dir / name
        if data is None:
            try:
                data = crop.read_bytes()
            except OSError as exc:
                raise StorageError(f"cannot read crop {crop}: {exc.strerror or exc}") from exc
        try:
            info = zipfile.ZipInfo.from_file(crop, self.prefix + name, strict_timestamps=False)
            self._open().writestr(info, data, compress_type=zipfile.ZIP_STORED)
        except OSError as exc:
            raise storage_error(self.path, exc) from exc
        self.names.append(name)

    def add_frame(self, objects: Sequence[ObjectRecord], crops: Sequence[bytes]) -> None:
        """Append a committed frame's crops, in its objects' order."""
        for record, data in zip(objects, crops, strict=True):
            self.add(record.img_file_name, data)

    def finish(self, tsv_path: Path) -> Path:
        """Add the TSV, which must be named `ecotaxa*` and list exactly the crops added,
        and put the zip in place (fsynced, then renamed). Returns its path."""
        _check_tsv(tsv_path)
        names = self.names
        listed = sorted(tsv_column(tsv_path, "img_file_name"))
        if listed != sorted(names) or len(set(names)) != len(names):
            raise EcoTaxaError(f"TSV {tsv_path} does not list the {len(names)} objects given once")
        archive = self._open()
        try:
            archive.write(tsv_path, self.prefix + tsv_path.name, compress_type=zipfile.ZIP_DEFLATED)
            archive.filelist.insert(0, archive.filelist.pop())  # the TSV is listed first
            archive.close()
            self._zip = None
            install(self._tmp, self.path)
        except OSError as exc:
            raise storage_error(self.path, exc) from exc
        return self.path

    def abort(self) -> None:
        """Close and remove the temporary file (nothing under the zip's name changes)."""
        if self._zip is not None:
            zip_file, self._zip = self._zip, None
            with contextlib.suppress(OSError, ValueError):
                zip_file.close()
        with contextlib.suppress(OSError):
            self._tmp.unlink(missing_ok=True)

    def _open(self) -> zipfile.ZipFile:
        if self._zip is None:
            raise EcoTaxaError(f"{self.path}: the archive is already finished or aborted")
        return self._zip


def write_archive(
    zip_path: Path,
    tsv_path: Path,
    *,
    crops_dir: Path,
    objects: Iterable[ObjectRecord],
    folder: str = "",
) -> None:
    """Write the EcoTaxa zip atomically: the TSV (deflated) and every object's crop
    `crops_dir / img_file_name` (stored), in `folder` if given (see `ArchiveWriter`). The
    TSV must be named `ecotaxa*` and list exactly the objects' images."""
    _check_folder(folder)
    _check_tsv(tsv_path)
    names = [record.img_file_name for record in objects]
    for name in names:
        check_file_name(name)
        if not (crops_dir / name).is_file():
            raise EcoTaxaError(f"crop {crops_dir / name} is missing; re-segment the acquisition")
    writer = ArchiveWriter(zip_path, crops_dir, folder=folder)
    try:
        for name in names:
            writer.add(name)
        writer.finish(tsv_path)
    finally:
        writer.abort()


def _check_folder(folder: str) -> None:
    if folder and (folder in (".", "..") or BREAKS.union("/\\").intersection(folder)):
        raise EcoTaxaError(f"archive folder {folder!r}: must be a plain folder name")


def _check_tsv(tsv_path: Path) -> None:
    if not tsv_path.name.startswith("ecotaxa"):
        raise EcoTaxaError(f"TSV {tsv_path.name!r}: EcoTaxa only imports TSVs named ecotaxa*")
    if not tsv_path.is_file():
        raise EcoTaxaError(f"TSV {tsv_path} does not exist; write it with write_tsv first")
