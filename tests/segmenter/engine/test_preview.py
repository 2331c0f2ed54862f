"""The live preview: its size bounds (worker.preview), its rate (engine.preview), and a
run that makes previews writes exactly what a run without them writes."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from segmenter.engine import Progress, Segmenter
from segmenter.engine.preview import Previews, frame_preview
from segmenter.qc import QCWarning
from segmenter.settings import RunSettings
from streamer.journal import CommittedFrame
from tests.conftest import REALDATA, MakeAcq, archive_content, require
from worker.preview import MAX_BYTES, MAX_WIDTH, PreviewRequest, render
from worker.qc import FrameQC
from worker.records import ObjectRecord

REAL_FRAME = REALDATA / "planktoscope_raw" / "planktoscope_hq_4056x3040_main.jpeg"


def decoded(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return np.asarray(image)


def test_a_real_frame_previews_within_the_bounds_with_its_boxes() -> None:
    require(REAL_FRAME)
    frame = np.asarray(cv2.imread(str(REAL_FRAME)), np.uint8)
    box = (2000, 1000, 400, 300)  # x, y, w, h in frame pixels
    jpeg = render(frame, [box], request=PreviewRequest(0))
    image = decoded(jpeg)
    assert len(jpeg) <= MAX_BYTES
    assert image.shape[:2] == (3040 // 4, 4056 // 4) and MAX_WIDTH >= 4056 // 4
    x0, y0 = box[0] // 4, box[1] // 4

    def greenness(x: int) -> float:
        column = image[y0 + 5 : y0 + 60, x].astype(int)
        return float((column[:, 1] - column[:, [0, 2]].max(axis=1)).mean())

    assert greenness(x0) > greenness(x0 - 8) + 80  # the box's left side, drawn in green
    assert frame.shape == (3040, 4056, 3), "the frame itself is left as it was"


def test_a_frame_no_quality_fits_is_made_narrower_until_it_fits() -> None:
    noise = np.random.default_rng(1).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    jpeg = render(noise, [], request=PreviewRequest(0))
    assert len(jpeg) <= MAX_BYTES
    assert decoded(jpeg).shape[1] < MAX_WIDTH  # noise at 1024 px is ~ 1 MB at any quality


def test_a_small_frame_is_not_enlarged() -> None:
    frame = np.full((480, 640, 3), 200, np.uint8)
    assert decoded(render(frame, [], request=PreviewRequest(0))).shape == (480, 640, 3)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("fps", [0.5, 3.0, 50.0])
def test_previews_are_asked_for_at_most_once_per_interval_whatever_the_frame_rate(
    fps: float,
) -> None:
    clock = Clock()
    previews = Previews(5.0, clock)
    asked = []
    for index in range(int(60 * fps)):  # a minute of frames
        if previews.request(index) is not None:
            asked.append(clock.now)
        clock.now += 1 / fps
    assert asked[0] == 100.0, "the first frame is previewed"
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(asked))
    assert len(asked) >= min(60 * fps, 60 / 5.0 / (1 + 1 / (5.0 * fps))) - 1


def test_the_preview_goes_with_its_frame_once() -> None:
    previews = Previews(5.0)
    previews.keep(3, b"jpeg")
    assert previews.take(2) is None
    assert previews.take(3) == b"jpeg" and previews.take(3) is None


def test_the_companion_takes_the_qc_figures_the_record_has() -> None:
    obj = ObjectRecord("f_0", "f_0.jpg", {"bx": 5, "by": 6, "bw": 7, "bh": 8, "label": 0})
    qc = {"focus": 0.4, "background": 181.5, "unrelated": 1}
    preview = frame_preview(b"x", (4, "f.jpg"), objects=(obj,), shape=(480, 640), qc=qc)
    assert preview.boxes == ((5, 6, 7, 8),) and preview.objects == 1
    assert (preview.width, preview.height, preview.index, preview.frame) == (640, 480, 4, "f.jpg")
    assert preview.qc == {"focus": 0.4, "background": 181.5}
    assert frame_preview(b"x", (4, "f.jpg"), objects=(), shape=None).qc == {}


def test_the_companion_has_the_frames_qc_record_and_the_warnings_so_far() -> None:
    grid = tuple(tuple(None for _ in range(4)) for _ in range(4))
    qc = FrameQC(0.3, grid, 200, 1, 0)
    frame = CommittedFrame(7, "f7.jpg", 0, (), (), None, qc)
    warning = QCWarning("drift", 5, "f5.jpg", "brightness drift since frame 5 (f5.jpg)")

    class Shape:
        shape: tuple[int, int] | None = (480, 640)

    previews = Previews(5.0)
    previews.keep(7, b"jpeg")
    preview = previews.of(frame, Shape(), [warning])
    assert preview is not None and (preview.index, preview.frame) == (7, "f7.jpg")
    assert preview.qc == {**qc.to_json(), "warnings": [warning.to_json()]}
    previews.keep(7, b"jpeg")
    plain = previews.of(frame, Shape(), [])
    assert plain is not None and "warnings" not in plain.qc, "none yet: no key"
    assert previews.of(frame, Shape(), [warning]) is None, "no JPEG came for it"


def test_a_run_with_previews_writes_what_a_run_without_them_writes(
    make_acq: MakeAcq, tmp_path: Path
) -> None:
    """The production pool (2 processes): the preview's frames come back with their
    JPEG, the boxes are the committed objects', and the archive is unchanged."""
    archives: list[object] = []
    events: list[Progress] = []
    for name, every in (("plain", 0.0), ("previews", 1.0)):
        root, acq = make_acq(tmp_path / name, frames=12, objects=6)
        with Segmenter(2) as seg:
            (summary,) = seg.run(
                [acq],
                RunSettings(preview_s=every),
                data_root=root,
                on_progress=events.append,
            )
        assert summary.status == "done" and summary.archive
        archives.append(archive_content(Path(summary.archive)))
    assert archives[0] == archives[1]
    shown = [e for e in events if isinstance(e, Progress) and e.preview is not None]
    assert shown and shown[0].preview is not None and shown[0].preview.index == 0
    for event in shown:
        preview = event.preview
        assert preview is not None and event.frame == preview.frame
        boxes = tuple((o.features["bx"], o.features["by"], o.features["bw"], o.features["bh"])
                      for o in event.committed)  # fmt: skip
        assert preview.boxes == boxes and preview.objects == len(event.committed)
        assert (preview.width, preview.height) == (640, 480)
        assert decoded(preview.jpeg).shape == (480, 640, 3)
    assert len({hashlib.sha1(e.preview.jpeg).digest() for e in shown if e.preview}) == len(shown)
