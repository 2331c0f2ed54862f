"""The old segmenter's whole process for one folder, as a program to time end to end.

python -m benchmark.old_program FOLDER OUT [--min-esd-px PX]

What the old service's `segment_path` does for an acquisition, without its MQTT
messages: read metadata.json (keeping the acq/sample/object/process keys), list the
.jpg frames in name order, compute the flat and segment every frame with its
recalculation rule (`benchmark.old_method.segment`), write every crop as a JPEG through
PIL with its defaults, then the EcoTaxa TSV (a header line, a type line, a line per
object) beside the crops and a zip of crops and TSV (stored, as its `zipfile` default),
and done.txt; all of it into OUT, never into FOLDER. Its summary, `{"frames": N,
"objects": M}`, is the last line on stdout.

Departures, each making it faster than the old program, never slower: every frame is
decoded once and held (the old one decodes the flat's frames a second time); no debug
images (the old service writes them unless told `keep: false`; `segmenter segment`
writes none without --keep); the TSV leaves out the `process_*_operation` columns.
It imports nothing of this project but `benchmark.old_method`, which imports none of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmark import old_method

LEVELS = ("acq", "sample", "object", "process")
LEVELS_ID = ("sample_project", "sample_id")
OLD_MIN_ESD = 20.0  # its process_min_ESD default, compared with the ESD in pixels


def read_frames(folder: Path) -> list[tuple[str, old_method.U8]]:
    """Its `_find_files` (name order, .jpg) and `cv2.imread` of each frame."""
    names = sorted(n for n in os.listdir(folder) if n.endswith((".JPG", ".jpg", ".JPEG", ".jpeg")))
    frames = []
    for name in names:
        image = cv2.imread(str(folder / name))
        if image is None:
            raise OSError(f"{folder / name}: cannot be decoded")
        frames.append((os.path.splitext(name)[0], np.asarray(image, dtype=np.uint8)))
    return frames


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def write_tsv(path: Path, metadata: dict[str, Any], found: Sequence[old_method.OldObject]) -> None:
    """Its `ecotaxa_export` table: metadata, `object_` features, id, file name, rank."""
    rows = []
    for obj in found:
        features = {f"object_{k}": v for k, v in obj.features.items()}
        rows.append(
            metadata
            | features
            | {"object_id": obj.object_id, "img_file_name": f"{obj.object_id}.jpg", "img_rank": 1}
        )
    names = list(rows[0])
    types = ["[f]" if isinstance(rows[0][n], int | float) else "[t]" for n in names]
    lines = ["\t".join(names), "\t".join(types)]
    lines += ["\t".join(_cell(row.get(n, "")) for n in names) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(folder: Path, out: Path, min_esd_px: float) -> dict[str, int]:
    """Segment `folder` as the old service does; crops, TSV, zip and done.txt into `out`."""
    with open(folder / "metadata.json", encoding="utf-8") as fh:
        metadata = {k: v for k, v in json.load(fh).items() if k.startswith(LEVELS)}
    metadata["process_datetime"] = datetime.now(UTC).isoformat()
    metadata["process_uuid"] = str(uuid.uuid4())
    project, sample = (str(metadata.get(k, "")).replace(" ", "_") for k in LEVELS_ID)
    metadata["process_id"] = f"{project}_{sample}_{metadata['process_uuid']}"
    frames = read_frames(folder)
    if not frames:
        raise FileNotFoundError(f"{folder} holds no frames")
    out.mkdir(parents=True, exist_ok=True)
    found = [obj for objects in old_method.segment(frames, min_esd_px) for obj in objects]
    for obj in found:
        (out / f"{obj.object_id}.jpg").write_bytes(old_method.encode_crop(obj.crop))
    acq = str(metadata.get("acq_id", folder.name)).replace(" ", "_")
    if found:
        tsv = out / f"ecotaxa_{acq}.tsv"
        write_tsv(tsv, metadata, found)
        with zipfile.ZipFile(out / f"ecotaxa_{acq}.zip", "w") as archive:
            for obj in found:
                archive.write(out / f"{obj.object_id}.jpg", arcname=f"{obj.object_id}.jpg")
            archive.writestr(tsv.name, tsv.read_bytes())
    (out / "done.txt").write_text(datetime.now(UTC).isoformat(), encoding="utf-8")
    return {"frames": len(frames), "objects": len(found)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.old_program", description=__doc__)
    p.add_argument("folder", type=Path, help="the acquisition (holding metadata.json)")
    p.add_argument("out", type=Path, help="where crops, TSV and zip go")
    p.add_argument("--min-esd-px", type=float, default=OLD_MIN_ESD, help="(20, as the old one)")
    args = p.parse_args(argv)
    print(json.dumps(run(args.folder, args.out, args.min_esd_px)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
