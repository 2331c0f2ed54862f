"""The float32 correction (worker.table, worker.correct) against the exact table: every
(flat, value) pair, the table's own fallback, and a change of flat between frames."""

from __future__ import annotations

import numpy as np
import pytest

from worker.correct import correct_inplace, correction, flat_index
from worker.table import correction_lut


def all_pairs() -> tuple[np.ndarray, np.ndarray]:
    """A frame and a flat holding every (flat, value) pair once per channel, below a
    first row of zeros that hosts the black pixel at (0, 0)."""
    values = np.tile(np.arange(256, dtype=np.uint8), (256, 1))  # column: frame value
    flats = values.T.copy()  # row: flat value
    zero = np.zeros((1, 256), np.uint8)
    frame = np.repeat(np.concatenate([zero, values])[:, :, None], 3, 2)
    flat = np.repeat(np.concatenate([zero, flats])[:, :, None], 3, 2)
    return np.ascontiguousarray(frame), np.ascontiguousarray(flat)


@pytest.mark.parametrize("clip_max", [1.04, 1.0, 1.1, 0.37, 10.0])
def test_every_pair_equals_the_table(clip_max: float) -> None:
    frame, flat = all_pairs()
    gray = np.empty(frame.shape[:2], np.uint8)
    correct_inplace(frame, flat_index(flat), corr=correction(clip_max), gray=gray)
    table = correction_lut(clip_max).reshape(256, 256)
    for channel in range(3):
        assert np.array_equal(frame[1:, :, channel], table)
    assert np.array_equal(gray[1:], table)  # equal channels: their gray is the value


def test_the_default_takes_the_table_for_few_flat_values() -> None:
    """At clip_max 1.04 the float path covers all but a few flat values (the table's
    float64 roundings put some exact quotients below an integer, others on it)."""
    corr = correction(1.04)
    assert corr.factors.dtype == np.float32
    assert 0 < corr.table_values <= 8


def test_a_flat_mostly_of_table_values_takes_the_table() -> None:
    corr = correction(1.04)
    flat_value = int(np.flatnonzero(corr.use_table)[-1])
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    flat = np.full(frame.shape, flat_value, np.uint8)
    flat[:3] = rng.integers(0, 256, (3, 50, 3), dtype=np.uint8)
    out = frame.copy()
    correct_inplace(out, flat_index(flat), corr=corr)
    expected = correction_lut(1.04)[(flat.astype(np.intp) << 8) | frame]
    expected[0, 0] = 0
    assert np.array_equal(out, expected)


def test_a_new_flat_between_frames_is_used() -> None:
    """The table pixels are kept for the last flat: a second flat, then the first
    again, each give the table's result."""
    rng = np.random.default_rng(5)
    corr = correction(1.04)
    special = np.flatnonzero(corr.use_table).astype(np.uint8)
    frame = rng.integers(0, 256, (70, 60, 3), dtype=np.uint8)
    flats = []
    for seed in (1, 2):
        flat = np.random.default_rng(seed).integers(1, 256, frame.shape, dtype=np.uint8)
        flat.reshape(-1)[:: 7 + seed] = special[seed % len(special)]
        flats.append(flat_index(flat))
    for flat_idx in (flats[0], flats[1], flats[0]):
        out = frame.copy()
        correct_inplace(out, flat_idx, corr=corr)
        expected = correction_lut(1.04)[flat_idx.astype(np.intp) | frame]
        expected[0, 0] = 0
        assert np.array_equal(out, expected)
