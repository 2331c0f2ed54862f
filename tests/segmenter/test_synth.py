"""Synthetic acquisitions: deterministic, laid out like the imager's, and segmentable."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from segmenter.errors import ConfigError
from segmenter.synth import (
    SynthSpec,
    frame_names,
    make_background,
    synth_frame,
    write_acquisition,
)
from segmenter.synth_shapes import Box, Image

SMALL = SynthSpec(frames=4, width=480, height=360)
NAME = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}-\d{6}\.jpg$")
PREFIXES = ("sample_", "acq_", "object_", "process_")


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def load_truth(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return data


def overlaps(a: Box | list[int], b: Box | list[int], margin: int = 0) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return (
        ax < bx + bw + margin
        and bx < ax + aw + margin
        and ay < by + bh + margin
        and by < ay + ah + margin
    )


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default spec: 12 frames of 1352x1014 at 0.75 um/px."""
    return write_acquisition(tmp_path_factory.mktemp("data"), SynthSpec())


# --- determinism and layout ---------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    a = files(write_acquisition(tmp_path / "a", SMALL))
    b = files(write_acquisition(tmp_path / "b", SMALL))
    assert a == b
    c = files(write_acquisition(tmp_path / "c", SynthSpec(frames=4, width=480, height=360, seed=1)))
    frames_a = [v for k, v in a.items() if k.endswith(".jpg")]
    frames_c = [v for k, v in c.items() if k.endswith(".jpg")]
    assert len(frames_a) == len(frames_c) == 4
    assert all(x != y for x, y in zip(frames_a, frames_c, strict=True))


def test_write_twelve_small_frames(tmp_path: Path) -> None:
    spec = SynthSpec(width=480, height=360)
    folder = write_acquisition(tmp_path, spec)
    assert folder == tmp_path / "img" / "2026-03-10" / "synth_s0" / "synth_a0"
    jpgs = sorted(folder.glob("*.jpg"))
    assert len(jpgs) == 12
    assert {p.name for p in folder.iterdir()} == {p.name for p in jpgs} | {
        "metadata.json",
        "integrity.check",
        "truth.json",
    }
    for path in jpgs:
        frame = cv2.imread(str(path))
        assert frame is not None and frame.shape == (360, 480, 3)
    with pytest.raises(ConfigError, match="not empty"):
        write_acquisition(tmp_path, spec)


def test_names_match_imager_pattern_and_sort_in_time_order() -> None:
    names = frame_names(SynthSpec(frames=400, seed=3))
    assert all(NAME.match(n) for n in names)
    times = [datetime.strptime(n[:-4], "%Y-%m-%d_%H-%M-%S-%f") for n in names]
    assert names == sorted(names)
    assert all(t1 < t2 for t1, t2 in itertools.pairwise(times))
    assert times[0].date().isoformat() == "2026-03-10"
    gaps = [(t2 - t1).total_seconds() for t1, t2 in itertools.pairwise(times)]
    assert min(gaps) > 0.1 and max(gaps) < 1.9
    assert len({t.microsecond for t in times}) > 300  # microseconds vary


def test_metadata_keys_and_values(acquisition: Path) -> None:
    meta = json.loads((acquisition / "metadata.json").read_text(encoding="utf-8"))
    assert isinstance(meta, dict)
    assert all(not isinstance(v, dict | list) for v in meta.values())  # flat
    assert meta["sample_id"] == "synth_s0" and meta["acq_id"] == "synth_a0"
    assert meta["acq_instrument"] == "PlanktoScope v3"
    assert meta["object_date"] == "2026-03-10" and meta["object_time"] == "10:00:00"
    assert meta["process_pixel"] == 0.75
    assert meta["acq_camera_resolution"] == "1352x1014"
    assert "é" in meta["sample_operator"]  # non-ASCII text survives
    for key in ("sample_project", "sample_ship", "sample_station", "sample_sampling_gear"):
        assert key in meta
    for key in ("acq_celltype", "acq_imaged_volume", "acq_minimum_mesh", "acq_maximum_mesh"):
        assert key in meta
    for key in ("object_lat", "object_lon", "object_depth_min", "object_depth_max"):
        assert key in meta
    assert [k for k in meta if not k.startswith(PREFIXES)] == ["description"]


def test_metadata_without_pixel_size(tmp_path: Path) -> None:
    spec = SynthSpec(frames=1, width=480, height=360, pixel_size_um=None)
    meta = json.loads((write_acquisition(tmp_path, spec) / "metadata.json").read_text("utf-8"))
    assert "process_pixel" not in meta


def test_integrity_check_lists_every_frame(acquisition: Path) -> None:
    lines = (acquisition / "integrity.check").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#") and lines[1] == "# filename,size,sha1"
    rows = [line.split(",") for line in lines[2:]]
    assert [r[0] for r in rows] == sorted(p.name for p in acquisition.glob("*.jpg"))
    for name, size, sha1 in rows:
        data = (acquisition / name).read_bytes()
        # the imager's sha1: of the name, a NUL byte, then the content
        assert int(size) == len(data)
        assert sha1 == hashlib.sha1(f"{name}\0".encode() + data).hexdigest()


# --- truth --------------------------------------------------------------------------------


def test_truth_boxes_inside_frame_big_enough_and_apart(acquisition: Path) -> None:
    truth = load_truth(acquisition)
    assert sorted(truth["frames"]) == sorted(p.name for p in acquisition.glob("*.jpg"))
    assert truth["spec"]["seed"] == 0 and truth["spec"]["width"] == 1352
    min_area = math.pi * (20 / 0.75 / 2) ** 2
    for boxes in truth["frames"].values():
        for i, (x, y, w, h) in enumerate(boxes):
            assert x > 0 and y > 0 and x + w < 1352 and y + h < 1014
            assert w * h >= min_area
            assert not any(overlaps(boxes[i], other) for other in boxes[i + 1 :])


def test_object_count_varies_around_the_mean() -> None:
    spec = SynthSpec(objects=6, noise_sigma=0)
    background = make_background(spec)[0]
    counts = [
        len(synth_frame(spec, np.random.default_rng(i), background=background)[1])
        for i in range(40)
    ]
    assert len(set(counts)) > 3
    assert abs(np.mean(counts) - 6) < 1.5


def test_background_is_pinkish_and_uneven() -> None:
    image, specks = make_background(SynthSpec())
    mean = image.reshape(-1, 3).mean(axis=0)
    assert np.all(mean > 165) and np.all(mean < 235)
    assert mean[2] > mean[1] and mean[0] > mean[1]  # pink/purple: red and blue above green
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert int(gray.max()) - int(np.percentile(gray, 1)) > 10  # vignetting
    assert len(specks) == 6


def test_full_resolution_frame() -> None:
    spec = SynthSpec(width=4056, height=3040, seed=5)
    frame, boxes = synth_frame(spec, np.random.default_rng(0))
    assert frame.shape == (3040, 4056, 3) and frame.dtype == np.uint8
    assert all(x > 0 and y > 0 and x + w < 4056 and y + h < 3040 for x, y, w, h in boxes)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frames": 0},
        {"objects": -1},
        {"width": 64},
        {"pixel_size_um": 0.0},
        {"pixel_size_um": 0.05},
        {"noise_sigma": -1.0},
        {"quality": 101},
        {"start": datetime(2026, 3, 10)},
    ],
)
def test_invalid_spec_raises_config_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SynthSpec(**kwargs)


# --- detectability with the baseline's flat and threshold ---------------------------------


def segment_masks(folder: Path) -> tuple[list[Image], list[Image], list[Image]]:
    """Raw frames, threshold masks and cleaned masks, with the baseline's steps."""
    names = sorted(p.name for p in folder.glob("*.jpg"))
    frames: list[Image] = [np.asarray(cv2.imread(str(folder / n)), np.uint8) for n in names]
    flat = np.median(np.stack(frames[:9]).astype(np.float64), axis=0)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (8, 8))
    masks: list[Image] = []
    cleaned: list[Image] = []
    for frame in frames:
        corrected = (np.clip(frame / flat, 0, 1.04) * 255 / 1.04).astype(np.uint8)
        gray = cv2.cvtColor(corrected, cv2.COLOR_BGR2GRAY)
        _, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_TRIANGLE)
        clean = cv2.erode(mask, np.ones((2, 2), np.uint8))
        clean = cv2.dilate(clean, kernel)
        clean = cv2.morphologyEx(clean, cv2.MORPH_CLOSE, kernel)
        masks.append(np.asarray(mask, np.uint8))
        cleaned.append(np.asarray(cv2.erode(clean, kernel), np.uint8))
    return frames, masks, cleaned


def test_organisms_are_detected_and_specks_are_not(acquisition: Path) -> None:
    truth = load_truth(acquisition)
    names = sorted(truth["frames"])
    frames, masks, cleaned = segment_masks(acquisition)
    esd_area = math.pi * (20 / 0.75 / 2) ** 2
    found = total = 0
    for name, mask in zip(names, masks, strict=True):
        for x, y, w, h in truth["frames"][name]:
            total += 1
            found += int(np.count_nonzero(mask[y : y + h, x : x + w]) >= esd_area)
    assert total > 50 and found >= 0.9 * total
    checked = 0
    for name, frame, clean in zip(names, frames, cleaned, strict=True):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(float)
        for speck in truth["specks"]:
            if any(overlaps(speck, box, margin=12) for box in truth["frames"][name]):
                continue  # an organism drifted over the dust
            x, y, w, h = speck
            around = np.median(gray[max(y - 2 * h, 0) : y + 3 * h, max(x - 2 * w, 0) : x + 3 * w])
            assert gray[y : y + h, x : x + w].min() < 0.85 * around  # dark in the raw frame
            assert not clean[y : y + h, x : x + w].any()  # gone after flat correction
            checked += 1
    assert checked > 30
