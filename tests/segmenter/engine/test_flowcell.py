"""The flow cell's map and cleanliness figure from the flat field (engine.flowcell): a
spot dark in every frame is on the map and in the figure, a clean flat is clean, and a
run writes the map under clean/ and the figures in its summary."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from segmenter import cli
from segmenter.engine import Segmenter
from segmenter.engine.flowcell import MAP_WIDTH, FlowCell, dark_pixels, shrunk
from segmenter.settings import RunSettings
from segmenter.synth import SynthSpec
from streamer.layout import Layout
from streamer.owned import Outputs
from tests.conftest import MakeAcq, require
from tests.segmenter.engine.test_preview import REAL_FRAME

H, W = 3040, 4056


def clean_flat(seed: int = 0) -> npt.NDArray[np.uint8]:
    """A flow cell background as a flat holds it (the median, uint8): pink-grey, vignetted
    (a quarter darker in the corners), with sensor noise."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
    light = 1.0 - 0.125 * r2
    noise = np.random.default_rng(seed).normal(0, 2.0, (H, W)).astype(np.float32)
    channels = [np.clip(level * light + noise, 0, 255) for level in (190.0, 170.0, 200.0)]
    return np.stack(channels, axis=2).astype(np.uint8)


class Flat:
    def __init__(self, array: npt.NDArray[np.uint8]) -> None:
        self.array = array


def with_spot(flat: npt.NDArray[np.uint8], x: int, y: int, radius: int) -> None:
    """A debris particle: a disc at half the background's brightness."""
    disc = np.zeros((H, W), np.uint8)
    cv2.circle(disc, (x, y), radius, 1, -1)
    flat[disc > 0] //= 2


@pytest.mark.parametrize("shape", [(H, W), (1001, 2049), (515, 3100), (700, 1024), (3041, W)])
def test_the_map_is_the_area_average_of_the_16_bit_flat(shape: tuple[int, int]) -> None:
    """`shrunk` by bands of blocks is OpenCV's area average of the whole `flat << 8`
    shifted back (the rounding the map always had), whatever the size of the frame."""
    flat = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    factor = -(-shape[1] // MAP_WIDTH)
    size = (shape[1] // factor, shape[0] // factor)
    wide = np.left_shift(flat, 8, dtype=np.uint16)
    if factor > 1:
        wide = np.asarray(cv2.resize(wide, size, interpolation=cv2.INTER_AREA), np.uint16)
    assert np.array_equal(shrunk(flat), np.right_shift(wide, 8).astype(np.uint8))


def test_a_clean_flat_is_clean() -> None:
    dark = dark_pixels(shrunk(clean_flat()))
    assert dark.shape == (H // 4, W // 4)  # shrunk by a whole factor: 1014 <= MAP_WIDTH
    assert not dark.any()


def test_a_dark_spot_is_on_the_map_and_in_the_figure(tmp_path: Path) -> None:
    flat = clean_flat()
    with_spot(flat, 3000, 800, 40)  # 80 px across: 20 px on the map
    layout = Layout(tmp_path, Path("d/s/a"), "a")
    cell = FlowCell(layout, Outputs(layout), keep=False)
    cell.on_flat(0, Flat(flat))  # type: ignore[arg-type]
    clean, spots = cell.figures()
    assert spots == 1
    scale = 1 / 4
    area = np.pi * (40 * scale) ** 2
    assert clean is not None
    assert 0.5 * area < (100 - clean) / 100 * cell.dark.size < 1.5 * area  # type: ignore[union-attr]
    image = cv2.imread(str(layout.flow_cell_map))
    assert image is not None and image.shape[1] == W // 4 <= MAP_WIDTH
    b, g, r = (int(v) for v in image[round(800 * scale), round(3000 * scale)])
    assert r > 200 and g < 60 and b < 60, "the spot is painted red"
    b, g, r = (int(v) for v in image[round(2000 * scale), round(1000 * scale)])
    assert abs(r - g) < 60, "the background is not"
    recorded = json.loads((layout.objects_dir / ".segmenter" / "outputs.json").read_text())
    assert str(layout.flow_cell_map.relative_to(tmp_path)) in recorded


def test_only_what_is_dark_in_every_flat_stays_on_the_map(tmp_path: Path) -> None:
    first, second = clean_flat(1), clean_flat(2)
    with_spot(first, 1000, 1000, 40)  # stuck: in both flats
    with_spot(second, 1000, 1000, 40)
    with_spot(first, 3000, 2000, 40)  # washed away before the second flat
    layout = Layout(tmp_path, Path("a"), "a")
    cell = FlowCell(layout, Outputs(layout), keep=False)
    cell.on_flat(0, Flat(first))  # type: ignore[arg-type]
    assert cell.figures()[1] == 2
    cell.on_flat(9, Flat(second))  # type: ignore[arg-type]
    assert cell.figures()[1] == 1


def test_the_real_frames_fibre_and_particles_are_found() -> None:
    """The real PlanktoScope frame as a flat (the test acquisitions' background repeats
    it in every frame): its fibre and larger particles are dark, the rest is not."""
    require(REAL_FRAME)
    frame = np.asarray(cv2.imread(str(REAL_FRAME)), np.uint8)
    dark = dark_pixels(shrunk(frame))
    count = cv2.connectedComponents(dark.astype(np.uint8), connectivity=8)[0] - 1
    assert 5 <= count <= 40
    assert 0.0002 < dark.mean() < 0.005
    assert dark[450:600, 880:1010].any(), "the fibre (lower right)"


def test_a_run_writes_the_map_and_the_summary_has_the_figures(make_acq: MakeAcq) -> None:
    """The synthetic frames carry static dust specks on the optics: each is a spot."""
    root, acq = make_acq(frames=10)
    with Segmenter(1) as seg:
        (summary,) = seg.run([acq], RunSettings(), data_root=root)
    assert summary.status == "done"
    assert summary.flow_cell_spots == SynthSpec().specks, "the synthetic dust specks"
    assert summary.flow_cell_clean is not None and 95.0 < summary.flow_cell_clean < 100.0
    rel = acq.relative_to(root / "img")
    assert (root / "clean" / rel / "stuck_map.jpg").is_file()
    assert not (root / "clean" / rel / "flat_color.jpg").exists(), "the flat only with keep"
    # the report's summary (what status/segmenter/summary publishes) has them too, and a
    # report made again from the journal alone (which has no flat) keeps them
    assert summary.report is not None
    written = Path(summary.report)
    figures = ("flow_cell_clean", "flow_cell_spots")
    expected = [summary.flow_cell_clean, summary.flow_cell_spots]
    assert [json.loads(written.read_text())[k] for k in figures] == expected
    before = written.stat().st_ino
    assert cli.main(["report", str(acq)]) == 0
    assert written.stat().st_ino != before, "the summary was written again"
    assert [json.loads(written.read_text())[k] for k in figures] == expected


def test_a_data_root_that_refuses_the_map_loses_the_map_not_the_run(
    make_acq: MakeAcq, caplog: pytest.LogCaptureFixture
) -> None:
    root, acq = make_acq(frames=4)
    (root / "clean").write_text("a file where the folder goes")
    with Segmenter(1) as seg:
        (summary,) = seg.run([acq], RunSettings(), data_root=root)
    assert summary.status == "done" and summary.archive
    assert summary.flow_cell_spots is not None
    assert "the flow cell map is not written" in caplog.text
