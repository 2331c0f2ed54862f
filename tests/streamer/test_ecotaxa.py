"""EcoTaxa TSV and archive: exact shape, formatting, encoding, validation, atomicity."""

from __future__ import annotations

import copy
import csv
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from segmenter.errors import EcoTaxaError
from streamer import contract, ecotaxa
from streamer.archive import write_archive
from streamer.contract import FEATURES, INTEGER_FEATURES, NEW, OLD
from streamer.ecotaxa import (
    ENCODING_COLUMN,
    build_columns,
    read_tsv,
    validate_header,
    write_tsv,
)
from worker.records import ObjectRecord

BOM = b"\xef\xbb\xbf"
FEATURE_COLUMNS = [f"object_{name}" for name in FEATURES[OLD]]

METADATA: dict[str, object] = {
    "sample_id": "S_12",
    "sample_operator": "Zoé Müller",
    "acq_id": 1,
    "acq_volume": 2.5,
    "acq_flag": True,
    "object_depth_min": None,
}
PROCESS: dict[str, object] = {"process_id": "proj_S_12_1", "process_pixel": 0.75}


def cells(
    metadata: Mapping[str, object],
    process: Mapping[str, object],
    extra: Mapping[str, object] | None = None,
) -> ecotaxa.AcquisitionCells:
    return ecotaxa.AcquisitionCells(metadata, process, extra or {})


def features(seed: float = 1.0) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for i, name in enumerate(FEATURES[OLD]):
        out[name] = i + 10 if name in INTEGER_FEATURES else seed * (i + 0.5)
    return out


def record(i: int, **changes: Any) -> ObjectRecord:
    values: dict[str, Any] = {
        "object_id": f"2026-03-10_12-00-00-000000_{i}",
        "img_file_name": f"2026-03-10_12-00-00-000000_{i}.jpg",
        "features": features(i + 1),
    }
    values.update(changes)
    return ObjectRecord(**values)


def write_crops(folder: Path, records: list[ObjectRecord]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, rec in enumerate(records):
        image = np.full((8 + i, 6, 3), 40 * i % 255, dtype=np.uint8)
        ok, data = cv2.imencode(".jpg", image)
        assert ok
        (folder / rec.img_file_name).write_bytes(data.tobytes())


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- columns and formatting ------------------------------------------------------------


def test_exact_header_type_rows_and_order(tmp_path: Path) -> None:
    path = tmp_path / "ecotaxa_A_1.tsv"
    assert write_tsv(path, cells(METADATA, PROCESS), [record(0)]) == 1
    names, types, rows = read_tsv(path)
    assert names == [
        ENCODING_COLUMN,
        *METADATA,
        *PROCESS,
        *FEATURE_COLUMNS,
        "object_id",
        "img_file_name",
        "img_rank",
        "object_static",  # ours, last (streamer.contract.OWN_FEATURES)
    ]
    assert types == ["[t]", "[t]", "[t]", "[f]", "[f]", "[t]", "[t]", "[t]", "[f]"] + ["[f]"] * len(
        FEATURES[OLD]
    ) + ["[t]", "[t]", "[f]", "[f]"]
    row = rows[0]
    assert row[ENCODING_COLUMN] == "utf-8"
    assert (row["acq_id"], row["acq_volume"], row["acq_flag"]) == ("1", "2.5", "true")
    assert row["object_depth_min"] == ""
    assert row["process_pixel"] == "0.75"
    assert row["img_rank"] == "1"
    assert row["object_id"] == "2026-03-10_12-00-00-000000_0"
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 4 and lines[-1] == b""  # \n after each of the 3 lines
    assert b"\r" not in path.read_bytes()


def test_number_formatting(tmp_path: Path) -> None:
    feats: dict[str, Any] = dict(features())  # numpy scalars too, as workers may send
    feats.update({"label": 7, "width": 12.0, "circ.": 0.1, "major": 1 / 3, "minor": 2.0})
    feats.update({"x": 1e-20, "y": np.float64(3.5), "angle": math.nan, "solidity": -math.inf})
    feats.update({"area": np.int64(42), "extent": math.inf, "euler_number": None})
    path = tmp_path / "ecotaxa_a.tsv"
    metadata = {"acq_id": "a", "acq_big": 10**20, "acq_small": 1e-7}
    write_tsv(path, cells(metadata, PROCESS), [record(0, features=feats)])
    _, _, [row] = read_tsv(path)
    assert row["object_label"] == "7"
    assert row["object_width"] == "12"  # integer feature given as float: no decimal point
    assert row["object_circ."] == "0.1"
    assert row["object_major"] == repr(1 / 3)
    assert float(row["object_major"]) == 1 / 3
    assert row["object_minor"] == "2.0"
    assert row["object_x"] == "1e-20"
    assert row["object_y"] == "3.5"
    assert row["object_area"] == "42"
    assert row["object_angle"] == row["object_solidity"] == row["object_extent"] == ""
    assert row["object_euler_number"] == ""
    assert row["acq_big"] == "100000000000000000000"
    assert row["acq_small"] == "1e-07"
    text = path.read_text(encoding="utf-8-sig").lower()
    assert "nan" not in text and "inf" not in text


def test_build_columns_types_and_cells() -> None:
    columns = build_columns(cells({"sample_id": 5, "sample_x": "5"}, {"process_id": "p"}))
    by_name = {c.name: c for c in columns}
    assert (by_name["sample_id"].type, by_name["sample_id"].cell) == ("[f]", "5")
    assert (by_name["sample_x"].type, by_name["sample_x"].cell) == ("[t]", "5")
    assert all(
        by_name[name].type == "[f]" and by_name[name].cell is None for name in FEATURE_COLUMNS
    )
    assert by_name["img_rank"].cell == "1"


def test_process_value_wins_and_encoding_column_is_ours(tmp_path: Path) -> None:
    metadata = {"sample_id": "s", "process_id": "planned", ENCODING_COLUMN: "latin-1"}
    names = [c.name for c in build_columns(cells(metadata, {"process_id": "ran"}))]
    assert names.count("process_id") == 1 and names.count(ENCODING_COLUMN) == 1
    path = tmp_path / "ecotaxa_a.tsv"
    write_tsv(path, cells(metadata, {"process_id": "ran"}), [record(0)])
    _, _, [row] = read_tsv(path)
    assert (row["process_id"], row[ENCODING_COLUMN]) == ("ran", "utf-8")


def test_inputs_not_mutated(tmp_path: Path) -> None:
    metadata, process, objects = copy.deepcopy(METADATA), dict(PROCESS), [record(0), record(1)]
    before = (copy.deepcopy(metadata), dict(process), copy.deepcopy(objects))
    write_tsv(tmp_path / "ecotaxa_a.tsv", cells(metadata, process), objects)
    write_crops(tmp_path, objects)
    write_archive(
        tmp_path / "e.zip", tmp_path / "ecotaxa_a.tsv", crops_dir=tmp_path, objects=objects
    )
    assert (metadata, process, objects) == before


# --- encoding: the BOM question ----------------------------------------------------------


def test_bom_written_once_and_stripped_on_read(tmp_path: Path) -> None:
    path = tmp_path / "ecotaxa_a.tsv"
    write_tsv(path, cells(METADATA, PROCESS), [record(0)])
    raw = path.read_bytes()
    assert raw.startswith(BOM + ENCODING_COLUMN.encode())
    assert raw.count(BOM) == 1
    names, _, _ = read_tsv(path)
    assert names[0] == ENCODING_COLUMN


def test_non_ascii_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ecotaxa_a.tsv"
    metadata = {**METADATA, "sample_comment": 'il a dit "ça" → 水'}
    write_tsv(path, cells(metadata, PROCESS), [record(0)])
    raw = path.read_bytes()
    assert "Zoé Müller".encode() in raw  # UTF-8, not latin-1
    _, _, [row] = read_tsv(path)
    assert row["sample_operator"] == "Zoé Müller"
    assert row["sample_comment"] == 'il a dit "ça" → 水'
    # EcoTaxa's own rule: latin-1 unless the first 3 characters read as latin-1 are a BOM
    assert raw[:3].decode("latin-1") == "ï»¿"


def test_naive_and_dictreader_readers_find_real_columns(tmp_path: Path) -> None:
    path = tmp_path / "ecotaxa_a.tsv"
    write_tsv(path, cells(METADATA, PROCESS), [record(0)])
    # A BOM-unaware reader: only the sacrificial column is damaged.
    with path.open(encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        fh.readline()
        first = dict(zip(header, fh.readline().rstrip("\n").split("\t"), strict=True))
    assert header[0] == "\ufeff" + ENCODING_COLUMN
    assert header[0].lstrip("\ufeff") == ENCODING_COLUMN
    assert header[1] == "sample_id"
    assert first["sample_id"] == "S_12" and first["object_id"] == "2026-03-10_12-00-00-000000_0"
    # A BOM-aware reader.
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        assert reader.fieldnames is not None and reader.fieldnames[0] == ENCODING_COLUMN
        types, row = next(reader), next(reader)
    assert types["sample_id"] == "[t]"
    assert row["sample_id"] == "S_12" and row["sample_operator"] == "Zoé Müller"


# --- errors name the column ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "process", "named"),
    [
        ({"img_foo": 1}, {}, "img_foo"),
        ({"foo": 1}, {}, "foo"),
        ({"object_": 1}, {}, "object_"),
        ({"sample_a\tb": 1, "sample_id": "s"}, {}, "sample_a\\tb"),
        ({"sample_note": "a\tb"}, {}, "sample_note"),
        ({"sample_note": "a\nb"}, {}, "sample_note"),
        ({"sample_note": "a\r\nb"}, {}, "sample_note"),
        ({"sample_note": "x" * 251}, {}, "sample_note"),
        ({"acq_speed": -math.inf}, {}, "acq_speed"),
        ({"acq_speed": math.inf}, {}, "acq_speed"),
        ({"acq_speed": math.nan}, {}, "acq_speed"),
        ({"sample_gps": {"lat": 1}}, {}, "sample_gps"),
        ({"sample_tags": [1, 2]}, {}, "sample_tags"),
        ({}, {"sample_x": 1}, "sample_x"),
        ({}, {"process_step": "bad\ttab"}, "process_step"),
    ],
)
def test_bad_columns_are_named(
    tmp_path: Path, metadata: dict[str, object], process: dict[str, object], named: str
) -> None:
    path = tmp_path / "ecotaxa_a.tsv"
    with pytest.raises(EcoTaxaError, match=re.escape(named)):
        write_tsv(path, cells(metadata, {"process_id": "p", **process}), [record(0)])
    assert not path.exists() and leftovers(tmp_path) == []


def test_text_limit_250_passes_and_message_gives_limit() -> None:
    build_columns(cells({"sample_id": "s", "sample_note": "x" * 250}, PROCESS))
    with pytest.raises(EcoTaxaError, match=r"sample_note.*251.*250"):
        build_columns(cells({"sample_id": "s", "sample_note": "x" * 251}, PROCESS))


def test_column_count_limits() -> None:
    many = {"sample_id": "s", **{f"sample_c{i}": i for i in range(60)}}
    build_columns(cells(many, PROCESS))
    with pytest.raises(EcoTaxaError, match="61 sample columns"):
        build_columns(cells({**many, "sample_c60": 1}, PROCESS))
    with pytest.raises(EcoTaxaError, match="process_id is required"):
        build_columns(cells({}, {"process_pixel": 1.0}))
    with pytest.raises(EcoTaxaError, match="process_id is required"):
        build_columns(cells({}, {}))  # the sacrificial process_tsv_encoding column needs it too


@pytest.mark.parametrize(
    ("objects", "named"),
    [
        ([record(0), record(1, object_id=record(0).object_id)], "object_id"),
        ([record(0), record(1, img_file_name=record(0).img_file_name)], "img_file_name"),
        ([record(0, object_id="x" * 256)], "object_id"),
        ([record(0, object_id="")], "object_id"),
        ([record(0, object_id="a\tb")], "object_id"),
        ([record(0, img_file_name="y" * 252 + ".jpg")], "img_file_name"),
        ([record(0, img_file_name="crop.tif")], "img_file_name"),
        ([record(0, img_file_name="sub/crop.jpg")], "img_file_name"),
        ([record(0, features={"label": 1})], "object_width"),
        ([record(0, features={**features(), "area": "12"})], "object_area"),
        ([record(0, features={**features(), "area": True})], "object_area"),
    ],
)
def test_bad_objects_are_named(tmp_path: Path, objects: list[ObjectRecord], named: str) -> None:
    path = tmp_path / "ecotaxa_a.tsv"
    with pytest.raises(EcoTaxaError, match=named):
        write_tsv(path, cells(METADATA, PROCESS), objects)
    assert not path.exists() and leftovers(tmp_path) == []


def test_ids_of_255_characters_pass(tmp_path: Path) -> None:
    rec = record(0, object_id="x" * 255, img_file_name="y" * 251 + ".jpg")
    assert write_tsv(tmp_path / "ecotaxa_a.tsv", cells(METADATA, PROCESS), [rec]) == 1


# --- real PlanktoScope metadata: its process_ keys merged with ours ---------------------


def test_metadata_process_keys_merge_with_ours_ignoring_case(tmp_path: Path) -> None:
    """Real metadata carries process_min_ESD (the dashboard's last value): it used to be
    refused as a duplicate of our process_min_esd. One column now, in the metadata's
    place and spelling, with the value applied; the baseline's process columns after the
    metadata, ours after img_rank."""
    metadata = {"sample_id": "S", "acq_id": "A", "process_pixel": 0.75, "process_min_ESD": 20}
    metadata |= {"acq_uuid": "u"}
    process = {"process_id": "P_S_1", "process_1st_operation": "{'type': 'x'}"}
    extra = {"process_min_esd": 15.0, "process_min_esd_unit": "um"}
    path = tmp_path / "ecotaxa_A.tsv"
    write_tsv(path, cells(metadata, process, extra), [record(0)])
    names, _types, rows = read_tsv(path)
    assert names[:7] == [ENCODING_COLUMN, *metadata, "process_id", "process_1st_operation"][:7]
    assert names[names.index("img_rank") + 1 :] == ["process_min_esd_unit", "object_static"]
    assert [n for n in names if n.lower() == "process_min_esd"] == ["process_min_ESD"]
    assert rows[0]["process_min_ESD"] == "15.0"


def test_metadata_keys_that_repeat_ignoring_case_keep_the_first() -> None:
    metadata = {"sample_id": "s", "SAMPLE_ID": "t", "process_id": "p"}
    columns = build_columns(cells(metadata, {}))
    assert [c.name for c in columns][:3] == [ENCODING_COLUMN, "sample_id", "process_id"]
    assert columns[1].cell == "s" and "SAMPLE_ID" not in [c.name for c in columns]


# --- output contracts (streamer.contract) ----------------------------------------------


def raw_2026_06(i: int) -> ObjectRecord:
    """A record as the worker now writes it: SPEC 2.5's values in pixels, then 2026-06's."""
    raw = record(i)
    extra = {"focus": math.nan if i else 0.25, "bw": 10, "bh": 11, "threshold": 236.0}
    return ObjectRecord(raw.object_id, raw.img_file_name, {**raw.features, **extra}, [[1, 2]])


def test_the_2026_06_contract_s_columns_and_values(tmp_path: Path) -> None:
    """SPEC 7's order; sizes x px, areas x px*px, perimareaexc x 1/px; the focus score in
    blur_laplacian (empty without gradient); a table EcoTaxa's header rules accept."""
    path = tmp_path / "ecotaxa_S_12_1.tsv"
    extra = contract.extra_columns(contract.NEW, 0.75)
    acq = ecotaxa.AcquisitionCells(METADATA, PROCESS, extra, contract.NEW, 0.75)
    records = [raw_2026_06(0), raw_2026_06(1)]
    assert write_tsv(path, acq, records) == 2
    names, types, rows = read_tsv(path)
    validate_header(names, types)
    start = names.index("object_label")
    assert names[start : start + len(FEATURES[contract.NEW])] == list(contract.column_names(NEW))
    assert names[-3:] == ["process_compat", "process_pixel_applied", "object_static"]
    assert types[-3:] == ["[t]", "[t]", "[f]"] and rows[0]["process_pixel_applied"] == "True"
    for row, rec in zip(rows, records, strict=True):
        raw = rec.features
        assert float(row["object_width"]) == raw["width"] * 0.75
        assert float(row["object_area"]) == raw["area"] * (0.75 * 0.75)
        assert float(row["object_perimareaexc"]) == raw["perimareaexc"] * (1.0 / 0.75)
        assert float(row["object_x"]) == raw["x"]
        assert (row["object_bw"], row["object_bh"], row["object_threshold"]) == (
            "10",
            "11",
            "236.0",
        )
    assert (rows[0]["object_blur_laplacian"], rows[1]["object_blur_laplacian"]) == ("0.25", "")


def test_the_2026_06_contract_needs_the_raw_values(tmp_path: Path) -> None:
    acq = ecotaxa.AcquisitionCells(METADATA, PROCESS, {}, contract.NEW, None)
    with pytest.raises(EcoTaxaError, match="export it with --compat 2026-03"):
        write_tsv(tmp_path / "ecotaxa_x.tsv", acq, [record(0)])  # a journal made before
    assert not list(tmp_path.iterdir())  # nothing half written
