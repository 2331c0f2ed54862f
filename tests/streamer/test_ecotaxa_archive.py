"""EcoTaxa archive: the zip, atomic writes and storage errors, and EcoTaxa's own
reference archive and negative fixture against our checks."""

from __future__ import annotations

import errno
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from segmenter.errors import EcoTaxaError, StorageError
from streamer import ecotaxa
from streamer.archive import write_archive
from streamer.ecotaxa import (
    read_tsv,
    validate_header,
    write_tsv,
)
from tests.conftest import REALDATA
from tests.streamer.test_ecotaxa import (
    FEATURE_COLUMNS,
    METADATA,
    PROCESS,
    cells,
    leftovers,
    record,
    write_crops,
)

REFERENCE = REALDATA / "ecotaxa_reference"
REFERENCE_ZIP = REFERENCE / "ecotaxa_import_test_zooscan.zip"
NEGATIVE_TSV = REFERENCE / "ecotaxa_tsv_issues_negative" / "ecotaxa_m106_mn01_n3_sml.tsv"

# --- zero objects and the archive ---------------------------------------------------------


def test_zero_objects_tsv_and_zip(tmp_path: Path) -> None:
    tsv = tmp_path / "objects" / "ecotaxa_A_1.tsv"
    assert write_tsv(tsv, cells(METADATA, PROCESS), []) == 0
    names, types, rows = read_tsv(tsv)
    assert rows == [] and len(tsv.read_bytes().split(b"\n")) == 3
    assert types[names.index("acq_volume")] == "[f]"
    assert all(types[names.index(name)] == "[f]" for name in FEATURE_COLUMNS)
    validate_header(names, types)
    archive = tmp_path / "export" / "ecotaxa_A_1.zip"
    write_archive(archive, tsv, crops_dir=tmp_path / "objects", objects=[])
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["ecotaxa_A_1.tsv"]
        assert zf.read("ecotaxa_A_1.tsv") == tsv.read_bytes()


def test_archive_members_at_root_jpegs_stored(tmp_path: Path) -> None:
    objects = [record(i) for i in range(3)]
    crops = tmp_path / "objects" / "2026-03-10" / "S_12" / "A_1"
    write_crops(crops, objects)
    tsv = crops / "ecotaxa_A_1.tsv"
    write_tsv(tsv, cells(METADATA, PROCESS), objects)
    archive = tmp_path / "ecotaxa_A_1.zip"
    write_archive(archive, tsv, crops_dir=crops, objects=objects)
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        infos = {info.filename: info for info in zf.infolist()}
        assert list(infos) == ["ecotaxa_A_1.tsv", *(o.img_file_name for o in objects)]
        assert all("/" not in name for name in infos)
        assert infos["ecotaxa_A_1.tsv"].compress_type == zipfile.ZIP_DEFLATED
        for rec in objects:
            assert infos[rec.img_file_name].compress_type == zipfile.ZIP_STORED
            assert zf.read(rec.img_file_name) == (crops / rec.img_file_name).read_bytes()


def test_archive_errors(tmp_path: Path) -> None:
    objects = [record(0), record(1)]
    write_crops(tmp_path, objects)
    tsv = tmp_path / "ecotaxa_a.tsv"
    write_tsv(tsv, cells(METADATA, PROCESS), objects)
    (tmp_path / objects[1].img_file_name).unlink()
    with pytest.raises(EcoTaxaError, match=re.escape(objects[1].img_file_name)):
        write_archive(tmp_path / "e.zip", tsv, crops_dir=tmp_path, objects=objects)
    with pytest.raises(EcoTaxaError, match=re.escape("Ecotaxa_a.tsv")):
        write_archive(
            tmp_path / "e.zip", tmp_path / "Ecotaxa_a.tsv", crops_dir=tmp_path, objects=objects
        )
    with pytest.raises(EcoTaxaError, match="does not list"):
        write_archive(tmp_path / "e.zip", tsv, crops_dir=tmp_path, objects=objects[:1])
    assert not (tmp_path / "e.zip").exists() and leftovers(tmp_path) == []


# --- atomicity ----------------------------------------------------------------------------


def test_tsv_failure_mid_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "ecotaxa_a.tsv"
    path.write_text("old complete TSV")

    def objects() -> Any:
        yield record(0)
        yield record(1)
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError, match="worker died"):
        write_tsv(path, cells(METADATA, PROCESS), objects())
    assert path.read_text() == "old complete TSV"
    assert leftovers(tmp_path) == []


def test_zip_failure_reading_crop_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = [record(i) for i in range(3)]
    write_crops(tmp_path, objects)
    tsv = tmp_path / "ecotaxa_a.tsv"
    write_tsv(tsv, cells(METADATA, PROCESS), objects)
    real_read = Path.read_bytes

    def failing_read(self: Path) -> bytes:
        if self.name == objects[1].img_file_name:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", failing_read)
    archive = tmp_path / "export" / "ecotaxa_a.zip"
    with pytest.raises(StorageError, match=re.escape(objects[1].img_file_name)):
        write_archive(archive, tsv, crops_dir=tmp_path, objects=objects)
    assert not archive.exists() and leftovers(archive.parent) == []


def test_disk_full_names_path_and_free_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = [record(0)]
    write_crops(tmp_path, objects)
    tsv = tmp_path / "ecotaxa_a.tsv"
    write_tsv(tsv, cells(METADATA, PROCESS), objects)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full)
    archive = tmp_path / "ecotaxa_a.zip"
    with pytest.raises(StorageError, match=r"disk full writing .*ecotaxa_a\.zip.*MB free"):
        write_archive(archive, tsv, crops_dir=tmp_path, objects=objects)
    assert not archive.exists() and leftovers(tmp_path) == []


def test_unwritable_folder_is_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match=re.escape("ecotaxa_a.tsv")):
        write_tsv(blocker / "ecotaxa_a.tsv", cells(METADATA, PROCESS), [])


# --- EcoTaxa's own reference data -----------------------------------------------------------


def reference_tsvs(tmp_path: Path) -> list[Path]:
    with zipfile.ZipFile(REFERENCE_ZIP) as zf:
        members = [n for n in zf.namelist() if n.endswith(".tsv") and "/ecotaxa_" in n]
        zf.extractall(tmp_path, members)
    return [tmp_path / name for name in members]


def test_reference_archive_shape_matches_ours(tmp_path: Path) -> None:
    ours = tmp_path / "ecotaxa_ours.tsv"
    write_tsv(ours, cells(METADATA, PROCESS), [record(0), record(1)])
    tsvs = reference_tsvs(tmp_path)
    assert len(tsvs) == 2
    for path in [*tsvs, ours]:
        names, types, rows = read_tsv(path)
        validate_header(names, types)
        assert set(types) <= {"[f]", "[t]"}
        assert {"object_id", "img_file_name", "sample_id", "acq_id"} <= set(names)
        assert rows and all(row["object_id"] and row["img_file_name"] for row in rows)
        assert all(len(line.split("\t")) == len(names) for line in lines_of(path))


def lines_of(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8-sig").rstrip("\n").split("\n")


def test_negative_fixture_header_is_rejected() -> None:
    names, types, _ = read_tsv(NEGATIVE_TSV)
    with pytest.raises(EcoTaxaError) as caught:
        validate_header(names, types)
    message = str(caught.value)
    assert "'NoUnderscoreCol'" in message
    assert "'unknown_target'" in message
    assert "'object_wrongtype': type '[H]'" in message
    assert "object_buggy_float" not in message  # a value problem, not a header one


@pytest.mark.parametrize(
    ("names", "types", "named"),
    [
        (["object_id", "object_a"], ["[t]"], "2 column names but 1 types"),
        (["object_id", "Object_ID"], ["[t]", "[t]"], "'Object_ID' appears twice"),
        (["object_id", "img_rank", "img_foo"], ["[t]", "[f]", "[f]"], "'img_foo'"),
        (["object_id", "object_x"], ["[t]", "[F]"], "'object_x': type"),
        (["object_x"], ["[f]"], "object_id is required"),
        (["object_id", "acq_x"], ["[t]", "[t]"], "acq_id is required"),
    ],
)
def test_validate_header_cases(names: list[str], types: list[str], named: str) -> None:
    with pytest.raises(EcoTaxaError, match=re.escape(named)):
        validate_header(names, types)


def test_validate_header_counts_free_columns_only() -> None:
    names = ["object_id", "object_lat", *(f"object_t{i}" for i in range(20))]
    validate_header(names, ["[t]", "[f]"] + ["[t]"] * 20)
    with pytest.raises(EcoTaxaError, match="21 object \\[t\\] columns"):
        validate_header([*names, "object_t20"], ["[t]", "[f]"] + ["[t]"] * 21)


def test_module_constants_match_spec() -> None:
    assert ecotaxa.MAX_TEXT == 250 and ecotaxa.MAX_NAME == 255
    assert ecotaxa.LIMITS == {
        "object [f]": 500,
        "object [t]": 20,
        "sample": 60,
        "acq": 30,
        "process": 30,
    }
