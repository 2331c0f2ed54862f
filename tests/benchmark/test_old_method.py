"""The oracle first: `benchmark.old_method`, the old program's method transcribed from its code,
gives exactly the old program's own outputs on `../shared/baseline/`. Then the engine,
with 1 and 2 workers, gives exactly what it gives on acquisitions the baseline does not
cover: flat recalculations in short acquisitions (the 10-frame rule, windows that start
before frame 0, the empty window the old program crashes on), with remove_previous_mask."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from benchmark import old_method
from segmenter.engine import Segmenter
from segmenter.settings import RunSettings
from segmenter.synth import SynthSpec, write_acquisition
from tests.benchmark.old_runs import frames_of, old_run
from tests.conftest import CPU_ROUNDED, archive_content, same_value
from tests.golden.test_golden import BASELINE, CASES
from tests.worker.test_kernel_vs_old_method import decoded


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_the_transcription_gives_the_old_programs_outputs(case: str) -> None:
    run = old_run(case)  # shared with tests/golden/test_golden_2026_06.py
    (tsv,) = (BASELINE / case / "baseline").glob("*.tsv")
    with tsv.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, dialect="excel-tab"))[1:]
    assert [o.object_id for o in run.objects] == [r["object_id"] for r in rows]
    for obj, row in zip(run.objects, rows, strict=True):
        assert all(f"object_{k}" in row for k in obj.features)
        for name, value in obj.features.items():
            loose = name in CPU_ROUNDED  # skimage's BLAS: the CPU's
            expected = float(row[f"object_{name}"])
            assert same_value(float(value), expected, loose), (obj.object_id, name)
        crop = decoded((BASELINE / case / "baseline" / f"{obj.object_id}.jpg").read_bytes())
        assert np.array_equal(crop, decoded(old_method.encode_crop(obj.crop))), obj.object_id
    recalculations = (BASELINE / case / "baseline" / "recalculations.txt").read_text().split()
    assert len(run.flats) - 1 == (int(recalculations[0]) if recalculations else 0)


Edge = tuple[Path, Path, list[list[old_method.OldObject]]]  # data root, folder, old results

# Short acquisitions whose bursts make the flat recalculate where the windows are odd.
EDGES = {
    "8 frames, window before frame 0": SynthSpec(frames=8, bursts=(4,), seed=21),
    "exactly 10 frames": SynthSpec(frames=10, bursts=(5,), seed=22),
    "12 frames, the empty window": SynthSpec(frames=12, bursts=(3,), seed=23),
}


@pytest.fixture(scope="module", params=list(EDGES), ids=str)
def edge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, list[list[old_method.OldObject]]]:
    spec = EDGES[request.param]
    root = tmp_path_factory.mktemp("edge")
    folder = write_acquisition(root, spec)
    flats: list[int] = []
    px = 20 / spec.pixel_size_um if spec.pixel_size_um else 20.0
    expected = old_method.segment(
        frames_of(folder), px, remove_previous_mask=True, on_flat=flats.append
    )
    assert len(flats) >= 2, "the burst did not make the old method recalculate"
    return root, folder, expected


@pytest.mark.parametrize("workers", [1, 2])
def test_engine_equals_the_old_method_on_short_acquisitions(edge: Edge, workers: int) -> None:
    root, folder, expected = edge
    settings = RunSettings(min_esd_um=20.0, remove_previous_mask=True, force=True, compat="2026-03")
    with Segmenter(workers) as seg:
        (summary,) = seg.run([folder], settings, data_root=root)
    assert summary.status == "done" and summary.archive
    rows, members = archive_content(Path(summary.archive))
    objects = [o for frame in expected for o in frame]
    assert [r["object_id"] for r in rows] == [o.object_id for o in objects]
    for row, obj in zip(rows, objects, strict=True):
        for name, value in obj.features.items():
            loose = name in CPU_ROUNDED  # the old method's: skimage's BLAS, LAPACK, libm
            cell = float(row[f"object_{name}"] or "nan")
            assert same_value(cell, float(value), loose), (obj.object_id, name)
        ours, old = members[f"{obj.object_id}.jpg"], old_method.encode_crop(obj.crop)
        assert np.array_equal(decoded(ours), decoded(old)), obj.object_id
