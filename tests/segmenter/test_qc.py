"""Quality control while imaging (issue 28): the per-frame QC the worker computes (focus,
focus grid, raw background), static objects flagged (never dropped) and the warnings,
through the production pool and the archive."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from segmenter.engine import AcquisitionSummary, Segmenter
from segmenter.errors import ConfigError
from segmenter.qc import QCLevels, QCWatch
from segmenter.settings import RunSettings
from segmenter.synth import SynthSpec, make_background, synth_frame
from streamer import contract, ecotaxa
from streamer.journal import CommittedFrame
from tests.conftest import MakeAcq
from worker.decode import read_frame
from worker.features import focus_terms
from worker.kernel import segment_frame
from worker.params import Params
from worker.qc import GRID, FocusGrid, FrameQC, background, static_flags
from worker.records import ObjectRecord

SETTINGS = RunSettings(min_esd_um=15.0, compat="2026-06")
STUCK = (740, 60)  # where the debris sits on the flow cell (x, y), 800x600 frames
STUCK_FROM = 9  # after the flat's frames (0..8): the flat does not hide it


def _flat(background: np.ndarray) -> npt.NDArray[np.uint8]:
    """A flat field as the pool makes it (the median, uint8), here a known background."""
    return np.ascontiguousarray(background, dtype=np.uint8)


def _blur(image: np.ndarray, sigma: float) -> npt.NDArray[np.uint8]:
    return image if sigma == 0 else np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), np.uint8)


def _frames(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def _rewrite(path: Path, frame: np.ndarray) -> None:
    path.write_bytes(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())


def _run(root: Path, folder: Path, settings: RunSettings = SETTINGS) -> AcquisitionSummary:
    with Segmenter(2) as seg:
        (summary,) = seg.run([folder], settings, data_root=root)
    assert summary.status == "done", summary
    return summary


def _rows(root: Path) -> list[dict[str, str]]:
    (tsv,) = (root / "objects").rglob("ecotaxa_*.tsv")
    return ecotaxa.read_tsv(tsv)[2]


# -- focus ---------------------------------------------------------------------------


def test_focus_falls_as_the_same_organisms_are_blurred() -> None:
    spec = SynthSpec(width=800, height=600, objects=10, seed=5)
    bg, _ = make_background(spec)
    frame, boxes = synth_frame(spec, np.random.default_rng(1), background=bg)
    assert len(boxes) >= 5
    scores = []
    for sigma in (0, 1, 2, 3):
        blurred, flat = _blur(frame, sigma).copy(), _flat(_blur(bg, sigma))
        seg, _ = segment_frame(blurred, flat, params=Params(min_esd_um=15, pixel_size_um=0.75))
        assert seg.qc is not None and seg.qc.objects >= 5 and seg.qc.focus is not None
        scores.append(seg.qc.focus)
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4, scores
    assert scores[0] > 2 * scores[2]


def test_one_object_frame_focus_is_its_own_and_empty_cells_are_none() -> None:
    """The frame focus is the #978 measure over the objects' bands: with one object it is
    that object's score exactly; the cells it does not reach have no edges (None)."""
    spec = SynthSpec(width=640, height=480, objects=0, noise_sigma=0, specks=0, seed=2)
    bg, _ = make_background(spec)
    frame = bg.copy()
    cv2.circle(frame, (100, 90), 18, (60, 60, 60), -1)  # in the grid's top-left cell
    seg, _ = segment_frame(frame, _flat(bg), params=Params(min_esd_um=15))
    assert seg.qc is not None and seg.qc.objects == len(seg.features) == 1
    assert seg.qc.focus == seg.features[0]["focus"]
    cells = [v for row in seg.qc.focus_grid for v in row]
    assert cells[0] is not None and cells[1:] == [None] * 15


def test_focus_grid_gives_each_pixel_to_the_cell_its_frame_position_is_in() -> None:
    """Crops across the cells' edges (a frame size no multiple of the grid): each cell
    sums exactly the terms of the pixels at rows r, columns c with r * 4 // h, c * 4 // w
    its own, as a per-pixel reference does."""
    h, w = 97, 131
    rng = np.random.default_rng(4)
    gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
    grid = FocusGrid((h, w))
    lap, grad = np.zeros((GRID, GRID), np.int64), np.zeros((GRID, GRID), np.int64)
    for top, left, bh, bw in [(0, 0, h, w), (20, 30, 10, 9), (23, 31, 2, 2), (70, 95, 27, 36)]:
        filled = rng.random((bh, bw)) < 0.5
        lap2, grad2 = focus_terms(gray[top : top + bh, left : left + bw], filled)
        grid((top, left), lap2, grad2)
        rows, cols = np.nonzero(np.ones((bh, bw), bool))
        cells = ((rows + top) * GRID // h, (cols + left) * GRID // w)
        np.add.at(lap, cells, lap2[rows, cols])
        np.add.at(grad, cells, grad2[rows, cols])
    assert grid.lap.reshape(GRID, GRID).tolist() == lap.tolist()
    assert grid.grad.reshape(GRID, GRID).tolist() == grad.tolist()
    assert np.count_nonzero(lap) == GRID * GRID  # every cell had terms


def test_background_is_the_raw_frames_median() -> None:
    frame = np.full((40, 40, 3), 120, np.uint8)
    frame[:8] = 10  # a dark fifth does not move the median
    assert background(frame) == 120
    assert background(np.full((8, 8, 3), 7, np.uint8)) == 7


# -- static objects ------------------------------------------------------------------


def _stuck_acquisition(make_acq: MakeAcq) -> tuple[Path, Path]:
    root, folder = make_acq(frames=14, objects=6, width=800, height=600, seed=21)
    for i, path in enumerate(_frames(folder)):
        if i >= STUCK_FROM:
            frame = read_frame(path)
            cv2.circle(frame, STUCK, 14, (70, 80, 75), -1)
            _rewrite(path, frame)
    return root, folder


def _near_stuck(row: dict[str, str]) -> bool:
    x, y = float(row["object_x"]), float(row["object_y"])
    return abs(x - STUCK[0]) < 3 and abs(y - STUCK[1]) < 3


def test_a_stuck_object_is_flagged_and_moving_organisms_are_not(make_acq: MakeAcq) -> None:
    root, folder = _stuck_acquisition(make_acq)
    summary = _run(root, folder)
    rows = _rows(root)
    stuck = [r for r in rows if _near_stuck(r)]
    frames = [r["object_id"].rsplit("_", 1)[0] for r in stuck]
    names = [p.stem for p in _frames(folder)]
    assert frames == names[STUCK_FROM:], "the stuck object is detected on each frame once"
    # its first frame has nothing before it at that place; afterwards it has
    assert [r["object_static"] for r in stuck] == ["0"] + ["1"] * (len(stuck) - 1)
    moving = [r for r in rows if not _near_stuck(r)]
    assert len(moving) > 40 and {r["object_static"] for r in moving} == {"0"}
    assert summary.qc is not None and summary.qc["static_objects"] == len(stuck) - 1
    assert summary.qc["warnings"] == []  # one piece of debris is below the default level


def test_static_flags_survive_a_resume_and_warn_once(make_acq: MakeAcq) -> None:
    root, folder = _stuck_acquisition(make_acq)
    settings = RunSettings(min_esd_um=15.0, compat="2026-06", qc_static=1, qc_frames=3)
    first = _run(root, folder, settings)
    before = [(r["object_id"], r["object_static"]) for r in _rows(root)]
    (journal,) = (root / "objects").rglob(".segmenter")
    for line in sorted((journal / "frames").glob("*.jsonl"))[11:]:
        line.unlink()  # as if killed after frame 10: frame 11 reads 10's contours back
    (folder / "done.txt").unlink()
    again = _run(root, folder, settings)
    assert [(r["object_id"], r["object_static"]) for r in _rows(root)] == before
    names = [p.name for p in _frames(folder)]
    for summary in (first, again):
        assert summary.qc is not None
        (warning,) = summary.qc["warnings"]
        assert (warning["kind"], warning["frame"], warning["name"]) == (
            "static",
            STUCK_FROM + 1,
            names[STUCK_FROM + 1],
        )
    lines = [json.loads(p.read_text()) for p in sorted((journal / "frames").glob("*.jsonl"))]
    assert [line["qc"]["static"] for line in lines][STUCK_FROM:] == [0, 1, 1, 1, 1]
    # the keys the live preview reads from a frame's record
    assert {"focus", "focus_grid", "background", "objects"} <= set(lines[0]["qc"])
    assert [len(row) for row in lines[0]["qc"]["focus_grid"]] == [4, 4, 4, 4]


def test_static_rule_measures_overlap_not_a_grid() -> None:
    square = [[10, 10], [40, 10], [40, 40], [10, 40]]
    moved = [[p[0] + 20, p[1]] for p in square]  # in the same 100 px cell, but moved
    shifted = [[p[0] + 2, p[1] + 1] for p in square]  # re-segmented in place
    assert static_flags([square], [moved, shifted, None]) == [False, True, False]
    assert static_flags(None, [square]) == [False]  # first frame, or the previous failed


# -- warnings ------------------------------------------------------------------------


def _frame(index: int, bg: int, objects: int = 5, focus: float | None = 0.3) -> CommittedFrame:
    grid = tuple(tuple(None for _ in range(4)) for _ in range(4))
    qc = FrameQC(focus, grid, bg, objects, 0)
    return CommittedFrame(index, f"f{index:02d}.jpg", 0, (), (), None, qc)


def test_a_brightness_step_warns_once_at_its_frame() -> None:
    watch = QCWatch(QCLevels())
    noise = [0, 3, -4, 6, -2, 1]  # the frame-to-frame spread of the real frames is ~10
    said = []
    for i in range(20):
        said += watch.add(_frame(i, 200 + noise[i % 6] + (30 if i >= 8 else 0)))
    assert [(w.kind, w.frame) for w in said] == [("drift", 8)]
    assert watch.figures()["background_first"] == 200


def test_focus_and_empty_frames_warn_after_several_frames_in_a_row() -> None:
    watch = QCWatch(QCLevels(frames=3))
    said = []
    said += watch.add(_frame(0, 200, focus=0.02))
    said += watch.add(_frame(1, 200, focus=0.3))  # breaks the run
    for i in range(2, 5):
        said += watch.add(_frame(i, 200, focus=0.02))
    for i in range(5, 12):
        said += watch.add(_frame(i, 200, objects=0, focus=None))  # no focus: not counted
    assert [(w.kind, w.frame) for w in said] == [("focus", 2), ("empty", 5)]


def test_a_brightness_step_in_a_real_run(
    make_acq: MakeAcq, caplog: pytest.LogCaptureFixture
) -> None:
    root, folder = make_acq(frames=12, objects=6, width=640, height=480, seed=8)
    for i, path in enumerate(_frames(folder)):
        if i >= 6:
            frame = read_frame(path)
            _rewrite(path, cv2.add(frame, np.full_like(frame, 25)))
    with caplog.at_level(logging.WARNING, logger="segmenter"):
        summary = _run(root, folder)
    assert summary.qc is not None
    assert [(w["kind"], w["frame"]) for w in summary.qc["warnings"]] == [("drift", 6)]
    said = [r.getMessage() for r in caplog.records if "brightness drift" in r.getMessage()]
    assert said == [f"{folder.relative_to(root / 'img')}: {summary.qc['warnings'][0]['message']}"]
    assert "since frame 6 (" in said[0], "logged once, with the frame where it began"
    assert summary.report is not None
    assert json.loads(Path(summary.report).read_text())["qc"] == summary.qc
    (table,) = (root / "export" / "ecotaxa").glob("qc_*.tsv")
    lines = [line.split("\t") for line in table.read_text().splitlines()]
    head, rows = lines[0], [dict(zip(lines[0], row, strict=True)) for row in lines[1:]]
    assert head[:6] == ["frame", "name", "objects", "static_objects", "focus", "background"]
    assert [r["frame"] for r in rows] == [str(i) for i in range(12)]
    steps = [int(r["background"]) for r in rows]
    assert min(steps[6:]) - max(steps[:6]) >= 20
    assert sum(int(r["objects"]) for r in rows) == summary.objects > 0  # each frame's count
    assert all(float(r["focus"]) > 0 for r in rows if int(r["objects"]))
    (plot,) = (root / "export" / "ecotaxa").glob("qc_plot_*.png")
    image = cv2.imdecode(np.frombuffer(plot.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[:2] == (500, 1100)


def test_an_older_journal_line_reads_without_qc() -> None:
    line = json.dumps({"index": 0, "name": "a.jpg", "flat_from": 0, "failed": None,
                       "crop_sizes": [], "objects": []})  # fmt: skip
    frame = CommittedFrame.from_line(line)
    assert frame.qc is None
    assert CommittedFrame.from_line(frame.to_line()) == frame


@pytest.mark.parametrize(("static", "cell"), [(None, ""), (1, "1"), (0, "0")])
def test_the_static_column_is_last_and_empty_when_unknown(
    tmp_path: Path, static: int | None, cell: str
) -> None:
    """A journal from before the flag still archives: the cell is empty (EcoTaxa's NA)."""
    cells = ecotaxa.AcquisitionCells({"sample_id": "s", "acq_id": "a"}, {"process_id": "p"})
    feats: dict[str, float | int] = dict.fromkeys(contract.FEATURES[contract.OLD], 1)
    if static is not None:
        feats["static"] = static
    ecotaxa.write_tsv(tmp_path / "x.tsv", cells, [ObjectRecord("a_0", "a_0.jpg", feats)])
    names, _types, rows = ecotaxa.read_tsv(tmp_path / "x.tsv")
    assert names[-1] == "object_static" and rows[0]["object_static"] == cell


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [("--qc-drift", "0", "from 1 to 255"), ("--qc-frames", "two", "not a whole number"),
     ("--qc-focus-min", "-1", "between 0 and 10"), ("--qc-static", "0", "from 1 to")],
)  # fmt: skip
def test_a_bad_level_is_one_line(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str], flag: str, value: str, said: str
) -> None:
    from segmenter.cli import main

    _root, folder = make_acq(frames=1)
    with pytest.raises(SystemExit) as exit_:
        main(["segment", str(folder), flag, value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and said in err and "Traceback" not in err
    with pytest.raises(ConfigError, match="qc_drift"):
        RunSettings(qc_drift=300)


def test_a_command_sets_the_levels_each_checked_by_its_rule() -> None:
    from dataclasses import asdict

    from segmenter.service.commands import parse_settings

    patch = parse_settings({"qc_drift": 30, "qc_focus_min": 0.05, "qc_frames": 2})
    settings = patch.apply(RunSettings())
    assert (settings.qc_drift, settings.qc_focus_min, settings.qc_frames) == (30, 0.05, 2)
    assert settings.qc_static == RunSettings().qc_static
    assert RunSettings(**asdict(settings)) == settings  # as the queue file keeps it
    with pytest.raises(ConfigError, match=r"settings\.qc_drift: must be a whole number"):
        parse_settings({"qc_drift": 0})
    with pytest.raises(ConfigError, match=r"settings\.qc_static"):
        parse_settings({"qc_static": 2.5})
