"""Output contracts: what an archive and the `metric` payload hold, the one place that
defines the TSV's object columns per contract, the unit conversion and the file names.

- `2026-03`: the PlanktoScope segmenter at fairscope/PlanktoScope 3bef3ddd2e9c, as
  `../shared/baseline/` shows it (pixels, the raw Laplacian variance, ids as given).
- `2026-06` (the default): upstream after #916, #931, #940, #946, #953, #954 and #978
  (SPEC section 7): sizes in micrometres, `bw`/`bh`/`threshold`, the focus score in
  `object_blur_laplacian`, `sample_id` = `acq_id` = the combined id, `contour` in `metric`.

The journal keeps every object's raw values in pixels whatever the contract (the worker
computes them all), so a run is converted here once, when it is written out, and a
re-export can choose either contract. A TSV without `process_compat` is a 2026-03 one
(every archive written before contracts existed is).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from worker.errors import ConfigError
from worker.records import Feature, ObjectRecord

OLD, NEW = "2026-03", "2026-06"
CONTRACTS = (OLD, NEW)
DEFAULT = NEW
LEGACY = OLD  # the contract of a journal that records none (made before contracts)
COLUMN = "process_compat"
APPLIED = "process_pixel_applied"

_SHAPE = ("circ.", "area_exc", "area", "%area", "major", "minor", "y", "x", "convex_area",
          "perim.", "elongation", "perimareaexc", "perimmajor", "circex", "angle",
          "bounding_box_area", "eccentricity", "equivalent_diameter", "euler_number", "extent",
          "local_centroid_col", "local_centroid_row", "solidity")  # fmt: skip
_COLOUR = ("MeanHue", "MeanSaturation", "MeanValue", "StdHue", "StdSaturation", "StdValue")

#: Object feature names per contract, in column order (SPEC 2.5; SPEC 7 for 2026-06).
FEATURES: dict[str, tuple[str, ...]] = {
    OLD: ("label", "width", "height", "bx", "by", *_SHAPE, "blur_laplacian", *_COLOUR),
    NEW: ("label", "width", "height", "bx", "by", "bw", "bh", *_SHAPE, "blur_laplacian",
          "threshold", *_COLOUR),
}  # fmt: skip
#: Features that are whole numbers in pixels (written without a decimal point when whole).
INTEGER_FEATURES = frozenset(
    {"label", "width", "height", "bx", "by", "bw", "bh", "area_exc", "area", "convex_area",
     "bounding_box_area", "euler_number"}
)  # fmt: skip
LINEAR = ("width", "height", "major", "minor", "perim.", "equivalent_diameter")  # x px
SQUARE = ("area_exc", "area", "convex_area", "bounding_box_area")  # x px*px
INVERSE = ("perimareaexc",)  # x (1 / px)
#: This project's own object columns, in both contracts after every other column (so
#: the contract's own stay as they are): `static`, 1 for an object that did not move
#: since the previous frame (worker.qc), 0 otherwise, empty when the journal predates it.
OWN_FEATURES = ("static",)
#: Raw values the worker records for 2026-06; a journal made before them lacks them.
RAW_NEW = ("bw", "bh", "threshold", "focus")


def checked(value: object) -> str:
    """The contract named `value`, or one ConfigError line listing the known ones."""
    text = str(value).strip() if value is not None else ""
    if text not in CONTRACTS:
        raise ConfigError(f"unknown output contract {text!r}: known are {', '.join(CONTRACTS)}")
    return text


def of_manifest(manifest: Mapping[str, Any]) -> str:
    """The contract a journal's run was made with (2026-03 when it records none)."""
    return checked(manifest.get("compat", LEGACY))


def column_names(compat: str) -> tuple[str, ...]:
    """The TSV's `object_<feature>` names, in order."""
    return tuple(f"object_{name}" for name in FEATURES[compat])


def own_column_names() -> tuple[str, ...]:
    """The TSV's names of OWN_FEATURES, written last in both contracts."""
    return tuple(f"object_{name}" for name in OWN_FEATURES)


def own_features(record: ObjectRecord) -> dict[str, Feature | None]:
    """The values of OWN_FEATURES (None: not recorded, an older journal)."""
    return {name: record.features.get(name) for name in OWN_FEATURES}


def combined_id(sample_id: str, acq_id: str) -> str:
    """#946/#953: sample and acquisition in one id, spaces to `_`, the acquisition's
    leading `<sample>_` not repeated (`S_13` + `A_2` -> `S_13_A_2`; `y_4501` +
    `y_4501_A_004` -> `y_4501_A_004`)."""
    sample, acq = sample_id.replace(" ", "_"), acq_id.replace(" ", "_")
    return f"{sample}_{acq.removeprefix(sample + '_')}"


def file_id(compat: str, sample_id: str, acq_id: str) -> str:
    """The `<id>` of `ecotaxa_<id>.tsv/.zip` and of the report's files."""
    return acq_id.replace(" ", "_") if compat == OLD else combined_id(sample_id, acq_id)


def metadata_cells(compat: str, metadata: Mapping[str, object]) -> dict[str, object]:
    """metadata.json's cells as the contract writes them: 2026-06 puts the combined id in
    both `sample_id` and `acq_id` (their places kept)."""
    cells = dict(metadata)
    if compat == NEW and "sample_id" in cells and "acq_id" in cells:
        both = combined_id(str(cells["sample_id"]), str(cells["acq_id"]))
        cells["sample_id"] = cells["acq_id"] = both
    return cells


def extra_columns(compat: str, pixel_um: float | None) -> dict[str, object]:
    """The contract's own process columns: none for 2026-03 (today's archive exactly),
    `process_compat` and `process_pixel_applied` for 2026-06."""
    if compat == OLD:
        return {}
    return {COLUMN: compat, APPLIED: "True" if pixel_um is not None else "False"}


def features(record: ObjectRecord, compat: str, pixel_um: float | None) -> dict[str, Feature]:
    """The object's feature values as the contract writes them, by feature name, in
    column order. 2026-06: the conversion to micrometres, upstream's arithmetic in
    float64 (`v * px`, `v * (px * px)`, `v * (1.0 / px)`), only when `pixel_um` is known
    (then `process_pixel_applied` is True), and `blur_laplacian` is the focus score.
    ConfigError when the journal predates 2026-06's raw values."""
    raw = record.features
    if compat == OLD:
        return {name: raw[name] for name in FEATURES[OLD] if name in raw}
    missing = [name for name in RAW_NEW if name not in raw]
    if missing:
        raise ConfigError(
            f"object {record.object_id}: segmented before the {NEW} contract existed (no "
            f"{', '.join(missing)}): export it with --compat {OLD} or segment it again"
        )
    values = {**raw, "blur_laplacian": raw["focus"]}
    if pixel_um is not None:
        px = float(pixel_um)
        px2, inverse = px * px, 1.0 / px
        for name in LINEAR:
            values[name] = raw[name] * px
        for name in SQUARE:
            values[name] = raw[name] * px2
        for name in INVERSE:
            values[name] = raw[name] * inverse
    return {name: values[name] for name in FEATURES[NEW] if name in values}


def metric(record: ObjectRecord, compat: str, pixel_um: float | None) -> dict[str, object]:
    """The `metadata` of a `status/segmenter/metric` message: the contract's features;
    2026-06 adds `contour`, a JSON text of [x, y] frame points, as upstream publishes it
    (#940; left out when unknown or empty, as upstream does)."""
    out: dict[str, object] = dict(features(record, compat, pixel_um))
    if compat == NEW and record.contour:
        out["contour"] = json.dumps(record.contour)
    return out
