"""EcoTaxa export (SPEC section 3): the TSV (the zip is streamer.archive).

The BOM question. EcoTaxa decodes a TSV as latin-1 unless it starts with a UTF-8 BOM, so
every TSV is UTF-8 *with* a BOM (always: one format for every reader). A reader unaware
of BOMs (Node's `buf.toString('utf8')`, Python's `encoding='utf-8'`) glues it to the
first column name, so that column is a sacrificial one nobody looks up:
`process_tsv_encoding` = `utf-8`, which EcoTaxa keeps once per acquisition and which
says how the file is encoded. All real columns are then found by name, BOM-aware or not.

Columns: that one, then the baseline's columns in its order (metadata keys, its process
columns, `object_<feature>`, `object_id`, `img_file_name`, `img_rank`), then this
project's own process columns (see `AcquisitionCells`) and last its own object columns
(`contract.OWN_FEATURES`: the QC flags); the object columns and their
values are those of the cells' output contract (`streamer.contract`); `validate_header`
makes EcoTaxa's header checks.
"""

from __future__ import annotations

import csv
import logging
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from streamer import contract
from streamer.errors import EcoTaxaError
from streamer.files import replacing
from worker.errors import ConfigError
from worker.records import ObjectRecord

ENCODING_COLUMN = "process_tsv_encoding"
ENCODING_VALUE = "utf-8"
PREFIXES = ("object", "sample", "acq", "process")
IMG_COLUMNS = ("img_file_name", "img_rank")
TYPES = ("[f]", "[t]")
MAX_TEXT, MAX_NAME = 250, 255  # characters: any text cell; object_id and img_file_name
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")
#: Free columns EcoTaxa has per project, by prefix ("object" split by type).
LIMITS = {"object [f]": 500, "object [t]": 20, "sample": 60, "acq": 30, "process": 30}
#: Columns EcoTaxa maps to fixed database fields: they take no free column.
PREDEFINED = frozenset(
    {"object_id", "object_lat", "object_lon", "object_date", "object_time", "object_link",
     "object_depth_min", "object_depth_max", "object_annotation_category",
     "object_annotation_category_id", "object_annotation_date", "object_annotation_time",
     "object_annotation_person_name", "object_annotation_person_email",
     "object_annotation_status", "sample_id", "acq_id", "process_id",
     "sample_dataportal_descriptor", "acq_instrument", *IMG_COLUMNS}
)  # fmt: skip
#: Characters that end a line for some reader (csv, str.splitlines) or split a cell.
BREAKS = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Column:
    """A TSV column: name, type (`[f]`/`[t]`), cell if the same on every row, else None."""

    name: str
    type: str
    cell: str | None = None


def validate_header(names: Sequence[str], types: Sequence[str]) -> None:
    """Raise one EcoTaxaError listing what EcoTaxa would reject: bad prefix, type not `[f]`
    or `[t]`, duplicate (names are lower-cased), missing `<prefix>_id`, too many columns."""
    problems: list[str] = []
    if len(names) != len(types):
        problems.append(f"{len(names)} column names but {len(types)} types")
    counts = dict.fromkeys(LIMITS, 0)
    seen: set[str] = set()
    for name, kind in zip(names, types, strict=False):
        key = name.lower()
        prefix, _, rest = key.partition("_")
        if not (key in IMG_COLUMNS or (prefix in PREFIXES and rest)) or BREAKS.intersection(name):
            problems.append(f"column {name!r}: needs an object_/sample_/acq_/process_ prefix")
        if kind not in TYPES:
            problems.append(f"column {name!r}: type {kind!r} is neither [f] nor [t]")
        if key in seen:
            problems.append(f"column {name!r} appears twice")
        seen.add(key)
        if key not in PREDEFINED and prefix in PREFIXES:
            bucket = f"object {kind}" if prefix == "object" else prefix
            counts[bucket] = counts.get(bucket, 0) + 1
    for prefix in PREFIXES:
        if f"{prefix}_id" not in seen and any(k.startswith(f"{prefix}_") for k in seen):
            problems.append(f"column {prefix}_id is required when there are {prefix}_ columns")
    for bucket, limit in LIMITS.items():
        if counts[bucket] > limit:
            problems.append(f"{counts[bucket]} {bucket} columns, EcoTaxa allows at most {limit}")
    if problems:
        raise EcoTaxaError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class AcquisitionCells:
    """The cells that are the same on every row of one acquisition's TSV.

    `metadata`: metadata.json's EcoTaxa keys, in its order. `process`: the baseline's
    own process columns (date, uuid, id, steps), written after the metadata as it wrote
    them. `extra`: this project's further columns, written after the baseline's last
    column. A process or extra key that metadata.json also has, compared
    case-insensitively, keeps the metadata's place and spelling and takes our value.
    """

    metadata: Mapping[str, object]
    process: Mapping[str, object]
    extra: Mapping[str, object] = field(default_factory=dict)
    compat: str = contract.OLD  # the output contract (streamer.contract)
    pixel_um: float | None = None  # micrometres per pixel, for the 2026-06 conversion


def _merged(cells: AcquisitionCells) -> tuple[dict[str, object], dict[str, object]]:
    """(columns before the object columns, columns after them), names unique ignoring case."""
    ours = {**cells.process, **cells.extra}
    for name in ours:
        if not name.startswith("process_"):
            raise EcoTaxaError(f"column {name!r}: process columns must start with process_")
    by_lower = {name.lower(): name for name in ours}
    before: dict[str, object] = {}
    used: set[str] = set()
    for name, value in cells.metadata.items():
        key = name.lower()
        if key in used:
            log.warning("metadata.json: %r repeats a key (ignoring case); the first is kept", name)
            continue
        used.add(key)
        before[name] = ours[by_lower[key]] if key in by_lower else value
    before |= {k: v for k, v in cells.process.items() if k.lower() not in used}
    after = {k: v for k, v in cells.extra.items() if k.lower() not in used}
    return before, after


def build_columns(cells: AcquisitionCells) -> list[Column]:
    """The TSV columns in order, with the per-acquisition cells: the encoding column,
    the baseline's columns in its order, then ours. EcoTaxaError naming the column: bad
    name, non-finite or nested value, text with a tab or line break, or too long."""
    before, after = _merged(cells)
    columns = [Column(ENCODING_COLUMN, "[t]", ENCODING_VALUE)]
    columns += [_constant_column(k, v) for k, v in before.items() if k != ENCODING_COLUMN]
    columns += [Column(name, "[f]") for name in contract.column_names(cells.compat)]
    columns += [Column("object_id", "[t]"), Column("img_file_name", "[t]")]
    columns.append(Column("img_rank", "[f]", "1"))
    columns += [_constant_column(k, v) for k, v in after.items() if k != ENCODING_COLUMN]
    columns += [Column(name, "[f]") for name in contract.own_column_names()]
    validate_header([c.name for c in columns], [c.type for c in columns])
    return columns


def _constant_column(name: str, value: object) -> Column:
    if value is None:
        return Column(name, "[t]", "")
    if isinstance(value, bool):
        return Column(name, "[t]", "true" if value else "false")
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise EcoTaxaError(f"column {name!r}: {value} is not a finite number; fix it")
        return Column(name, "[f]", _number(value))
    if isinstance(value, str):
        _check_text(name, value, MAX_TEXT)
        return Column(name, "[t]", value)
    kind = "nested" if isinstance(value, Mapping | list | tuple) else "unsupported"
    raise EcoTaxaError(f"column {name!r}: {kind} {type(value).__name__}, not a number or text")


def _number(value: numbers.Real, integral: bool = False) -> str:
    """Integers without a decimal point, floats as repr (shortest round trip)."""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    return str(int(number)) if integral and number.is_integer() else repr(number)


def _check_text(column: str, text: str, limit: int) -> None:
    if any(char in BREAKS for char in text):
        raise EcoTaxaError(f"column {column!r}: tab or line break in {text[:60]!r}; remove it")
    if len(text) > limit:
        raise EcoTaxaError(f"column {column!r}: {len(text)} characters, EcoTaxa's limit is {limit}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EcoTaxaError(f"column {column!r}: {text[:60]!r} is not valid Unicode") from exc


def check_file_name(name: str) -> None:
    _check_text("img_file_name", name, MAX_NAME)
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise EcoTaxaError(f"img_file_name {name!r}: must be a plain file name")
    if not name.lower().endswith(IMAGE_SUFFIXES):
        raise EcoTaxaError(f"img_file_name {name!r}: EcoTaxa takes only {IMAGE_SUFFIXES}")


def _feature_cell(name: str, value: object) -> str:
    kind = type(value)  # exact float and int first: the ABC checks below cost most of a row
    if kind is float:
        number = cast(float, value)
        if not math.isfinite(number):
            return ""
        integral = number.is_integer() and name in contract.INTEGER_FEATURES
        return str(int(number)) if integral else repr(number)
    if kind is int:
        return str(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real | None):
        raise EcoTaxaError(f"column object_{name}: {value!r} is not a number")
    if value is None or not math.isfinite(value):
        return ""  # EcoTaxa reads an empty cell as NA
    return _number(value, name in contract.INTEGER_FEATURES)


def _object_cells(
    record: ObjectRecord, cells: AcquisitionCells, *, ids: set[str], files: set[str]
) -> dict[str, str]:
    """The per-object cells of one row, in the contract of `cells`; `ids` and `files`
    collect what was seen."""
    object_id, file_name = record.object_id, record.img_file_name
    if not object_id:
        raise EcoTaxaError(f"column 'object_id': empty for image {file_name!r}")
    _check_text("object_id", object_id, MAX_NAME)
    check_file_name(file_name)
    if object_id in ids:
        raise EcoTaxaError(f"column 'object_id': {object_id!r} appears twice")
    if file_name in files:
        raise EcoTaxaError(f"column 'img_file_name': {file_name!r} appears twice")
    ids.add(object_id)
    files.add(file_name)
    row = {"object_id": object_id, "img_file_name": file_name}
    try:
        values = contract.features(record, cells.compat, cells.pixel_um)
    except ConfigError as exc:
        raise EcoTaxaError(str(exc)) from exc
    for name in contract.FEATURES[cells.compat]:
        if name not in values:
            raise EcoTaxaError(f"column object_{name}: missing for object {object_id!r}")
        row[f"object_{name}"] = _feature_cell(name, values[name])
    for name, value in contract.own_features(record).items():
        row[f"object_{name}"] = _feature_cell(name, value)
    return row


def write_tsv(path: Path, cells: AcquisitionCells, objects: Iterable[ObjectRecord]) -> int:
    """Write the EcoTaxa TSV atomically (UTF-8 with BOM, `\\n` line ends); return the
    number of object rows. Zero objects give the name and type lines only."""
    columns = build_columns(cells)
    count = 0
    with (
        replacing(path, make_folder=True) as tmp,
        tmp.open("x", encoding="utf-8-sig", newline="") as fh,
    ):
        writer = csv.writer(fh, dialect="excel-tab", lineterminator="\n")
        writer.writerow([c.name for c in columns])
        writer.writerow([c.type for c in columns])
        ids: set[str] = set()
        files: set[str] = set()
        for record in objects:
            row = _object_cells(record, cells, ids=ids, files=files)
            writer.writerow([row[c.name] if c.cell is None else c.cell for c in columns])
            count += 1
    return count


def read_tsv(path: Path) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """Read a TSV as EcoTaxa does (UTF-8 without the BOM if it starts with one, else
    latin-1): column names, types (line 2) and one dict per row. Blank lines are skipped;
    a row with another cell count than the header raises EcoTaxaError."""
    with path.open("rb") as raw:
        has_bom = raw.read(3) == b"\xef\xbb\xbf"
    with path.open(encoding="utf-8-sig" if has_bom else "latin-1", newline="") as fh:
        lines = [row for row in csv.reader(fh, dialect="excel-tab") if row]
    if len(lines) < 2:
        raise EcoTaxaError(f"{path}: an EcoTaxa TSV needs a name line and a type line")
    names, types = lines[0], lines[1]
    for number, row in enumerate(lines[1:], start=2):
        if len(row) != len(names):
            raise EcoTaxaError(f"{path} row {number}: {len(row)} cells for {len(names)} columns")
    return names, types, [dict(zip(names, row, strict=True)) for row in lines[2:]]


def tsv_column(path: Path, column: str) -> list[str]:
    """One column of a TSV written by `write_tsv`, its header checked, read row by row
    (an acquisition's TSV can hold tens of thousands of rows)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, dialect="excel-tab")
        names, types = next(reader, []), next(reader, [])
        validate_header(names, types)
        if column not in names:
            return []
        at = names.index(column)
        return [row[at] for row in reader if row]
