"""The report at the end of an acquisition, on a synthetic acquisition and on the golden
ones: the images open with the expected size and content, the summary's figures agree
with the archive's TSV (and, on the golden cases, with the old program's TSV)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from segmenter import rules
from segmenter.acquisition import load_acquisition
from segmenter.engine import Segmenter
from segmenter.report import report
from segmenter.settings import RunSettings
from streamer import contract
from streamer.ecotaxa import read_tsv
from streamer.report import mosaic, spectrum
from tests.conftest import MakeAcq
from tests.golden.test_golden import BASELINE, CASES, segment_case

PNG_SIZE = (450, 1100)  # 11 x 4.5 inches at 100 dpi
TAB_RED, TAB_GREEN = (40, 39, 214), (44, 160, 44)  # BGR of matplotlib's tab: colours


def run(root: Path, folder: Path, **settings: Any) -> dict[str, Any]:
    with Segmenter(1) as seg:
        (summary,) = seg.run([folder], RunSettings(**settings), data_root=root)
    assert summary.status == "done", summary.message
    return summary.to_json()


def files(root: Path, file_id: str) -> dict[str, Path]:
    export = root / "export" / "ecotaxa"
    names = {"mosaic": ".jpg", "size_spectrum": ".png", "summary": ".json"}
    return {kind: export / f"{kind}_{file_id}{suffix}" for kind, suffix in names.items()}


def esds(rows: list[dict[str, str]], pixel: float) -> list[float]:
    """ESDs in um from a TSV's object_area: um^2 already where process_pixel_applied says
    so (the 2026-06 contract), pixels otherwise; never converted twice."""
    return [
        2
        * math.sqrt(float(r["object_area"]) / math.pi)
        * (1.0 if r.get("process_pixel_applied") == "True" else pixel)
        for r in rows
    ]


def has_colour(image: np.ndarray, bgr: tuple[int, int, int], tolerance: int = 30) -> bool:
    return bool((np.abs(image.astype(int) - bgr).max(axis=2) < tolerance).any())


def check_mosaic(
    path: Path, crops: dict[str, bytes], rows: list[dict[str, str]], px: float
) -> None:
    """The largest object's crop is the first tile, above a scale bar of the right length."""
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] == mosaic.WIDTH
    assert image.shape[0] <= mosaic.MAX_HEIGHT
    largest = max(rows, key=lambda r: float(r["object_area"]))
    crop = cv2.imdecode(np.frombuffer(crops[largest["img_file_name"]], np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None
    h, w = crop.shape[:2]
    assert max(h, w) <= mosaic.MAX_TILE  # shown unscaled
    tile = image[mosaic.HEADER : mosaic.HEADER + h, :w]
    assert np.abs(tile.astype(int) - crop.astype(int)).mean() < 4  # JPEG twice
    # the bar: the largest 1, 2 or 5 x 10^k um not above half the crop's width
    half = w * 0.5 * px
    length = max(f * 10**k for k in range(-2, 5) for f in (1, 2, 5) if f * 10**k <= half)
    row = image[mosaic.HEADER + h + mosaic.BAR_STRIP // 2, :, :].max(axis=1)
    dark = int(np.argmax(row > 100))  # the bar runs from x = 0 to its first light pixel
    assert abs(dark - length / px) <= 1.5


def check_spectrum(path: Path) -> None:
    image = cv2.imread(str(path))
    assert image is not None and image.shape[:2] == PNG_SIZE
    assert has_colour(image, TAB_RED) and has_colour(image, TAB_GREEN)  # fit, histogram


def test_synthetic_acquisition_report(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=8, objects=6)
    summary = run(root, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    out = files(root, contract.combined_id(meta["sample_id"], meta["acq_id"]))
    assert summary["report"] == str(out["summary"])
    _, _, rows = read_tsv(next((root / "objects").rglob("ecotaxa_*.tsv")))
    crops = {p.name: p.read_bytes() for p in (root / "objects").rglob("*.jpg")}
    assert len(rows) > 20
    px = float(meta["process_pixel"])
    check_mosaic(out["mosaic"], crops, rows, px)
    check_spectrum(out["size_spectrum"])
    figures = json.loads(out["summary"].read_text())
    assert figures["frames"] == figures["frames_committed"] == 8
    assert figures["objects"] == figures["mosaic_objects"] == len(rows)
    assert figures["failed_frames"] == [] and figures["flat_recalculations"] == 0
    assert figures["objects_per_ml"] == pytest.approx(len(rows) / meta["acq_imaged_volume"])
    assert figures["esd_quartiles"] == pytest.approx(np.percentile(esds(rows, px), [25, 50, 75]))
    assert figures["esd_unit"] == "um" and figures["seconds"] == summary["seconds"]
    assert isinstance(figures["nbss_slope"], float) and figures["notes"] == []


def test_without_imaged_volume_or_pixel_size_it_says_so(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=4, pixel_size_um=None)
    meta = json.loads((folder / "metadata.json").read_text())
    meta.pop("acq_imaged_volume", None)
    (folder / "metadata.json").write_text(json.dumps(meta))
    run(root, folder)
    figures = json.loads(
        files(root, contract.combined_id(meta["sample_id"], meta["acq_id"]))["summary"].read_text()
    )
    assert figures["objects_per_ml"] is None and figures["esd_unit"] == "px"
    assert any("acq_imaged_volume" in n for n in figures["notes"])
    assert any("process_pixel" in n for n in figures["notes"])


def test_no_report_flag_writes_none(make_acq: MakeAcq) -> None:
    root, folder = make_acq(frames=3)
    summary = run(root, folder, report=False)
    assert summary["report"] is None
    assert not list((root / "export" / "ecotaxa").glob("summary_*"))


def test_without_matplotlib_mosaic_and_summary_still_written(
    make_acq: MakeAcq, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root, folder = make_acq(frames=3)
    run(root, folder, report=False)
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises
    written = report(load_acquisition(folder, root))
    assert written.size_spectrum is None and written.mosaic.is_file()
    assert spectrum.MISSING in written.figures["notes"]
    assert "\n" not in spectrum.MISSING and "pip install '.[report]'" in spectrum.MISSING
    assert spectrum.MISSING in caplog.text
    assert json.loads(written.summary.read_text())["objects"] == written.figures["objects"]


@pytest.fixture(scope="module", params=CASES)
def golden(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return segment_case(request.param, tmp_path_factory.mktemp(request.param) / "data", 1)


def test_golden_report_agrees_with_the_old_programs_tsv(golden: Any) -> None:
    """Objects, ESD quartiles (from the baseline's object_area and process_pixel) and flat
    recalculations as the old program's outputs give them; images as above."""
    (base_tsv,) = golden.baseline.glob("ecotaxa_*.tsv")
    _, _, rows = read_tsv(base_tsv)
    px = float(rows[0]["process_pixel"])
    file_id = base_tsv.stem.removeprefix("ecotaxa_")  # spaces already `_` (dense)
    out = files(golden.root, file_id)
    figures = json.loads(out["summary"].read_text())
    assert figures["objects"] == len(rows)
    assert figures["esd_quartiles"] == pytest.approx(np.percentile(esds(rows, px), [25, 50, 75]))
    recalculations = (golden.baseline / "recalculations.txt").read_text().split()
    assert figures["flat_recalculations"] == (int(recalculations[0]) if recalculations else 0)
    volume = float(rows[0]["acq_imaged_volume"])
    assert figures["objects_per_ml"] == pytest.approx(len(rows) / volume)
    crops = {p.name: p.read_bytes() for p in golden.baseline.glob("*.jpg")}
    check_mosaic(out["mosaic"], crops, rows, px)
    check_spectrum(out["size_spectrum"])
    assert golden.case in CASES and BASELINE.is_dir()


def test_the_default_qc_levels_say_nothing_on_the_baselines_acquisitions(golden: Any) -> None:
    """The QC defaults were chosen from these frames (docs/qc.md): their focus stays above
    the focus level, their background within the drift level, none of their organisms is
    static and none of their frames is empty, so no warning."""
    (base_tsv,) = golden.baseline.glob("ecotaxa_*.tsv")
    out = files(golden.root, base_tsv.stem.removeprefix("ecotaxa_"))
    figures = json.loads(out["summary"].read_text())
    qc = figures["qc"]
    assert qc["frames_with_qc"] == figures["frames_committed"] > 0
    assert qc["warnings"] == [] and qc["static_objects"] == 0 and qc["empty_frames"] == 0
    assert qc["focus_min"] > rules.QC_FOCUS_MIN
    assert qc["background_max"] - qc["background_min"] < rules.QC_DRIFT
