"""The correction (worker.table, worker.correct) against the exact table: every (flat,
value) pair through `correct_inplace`, strips of every length, the gray and the black
pixel at (0, 0)."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from worker import correct
from worker.correct import correct_inplace, correction
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
    correct_inplace(frame, flat, corr=correction(clip_max), gray=gray)
    table = correction_lut(clip_max).reshape(256, 256)
    for channel in range(3):
        assert np.array_equal(frame[1:, :, channel], table)
    assert np.array_equal(gray[1:], table)  # equal channels: their gray is the value


def test_without_a_16_bit_lut_np_take_gives_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV 4.x's cv2.LUT takes 8-bit indices only: there the same gather is np.take's."""
    if tuple(int(part) for part in cv2.__version__.split(".")[:2]) >= (5, 1):
        assert correct.LUT16  # the versions the project runs take the fast path
    monkeypatch.setattr(correct, "LUT16", False)
    test_every_pair_equals_the_table(1.04)


@pytest.mark.parametrize("height", [1, 31, 33, 70])
def test_a_frame_of_any_height_equals_the_table(height: int) -> None:
    """Random frames and flats whose heights end strips short or not at all (strips of
    32 rows): every channel is the table's value, the gray is OpenCV's gray of it, and
    only the pixel at (0, 0) is set black; a second flat with the same scratch gives
    its own table values."""
    rng = np.random.default_rng(height)
    table = correction_lut(1.04)
    for seed in (1, 2):
        frame = rng.integers(0, 256, (height, 45, 3), dtype=np.uint8)
        flat = np.random.default_rng(seed).integers(0, 256, frame.shape, dtype=np.uint8)
        frame[0, 0], flat[0, 0] = 200, 100 + seed  # a pixel the table would not make black
        out = frame.copy()
        gray = np.empty(frame.shape[:2], np.uint8)
        correct_inplace(out, flat, corr=correction(1.04), gray=gray)
        expected = table[flat.astype(np.intp) << 8 | frame]
        assert expected[0, 0].all() and expected[0, 1:].any()
        expected[0, 0] = 0
        assert np.array_equal(out, expected)
        assert np.array_equal(gray, cv2.cvtColor(expected, cv2.COLOR_BGR2GRAY))


def test_a_flat_of_another_shape_or_type_is_refused() -> None:
    """cv2.LUT would write a new array, not the frame, if the types did not match."""
    frame = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError):
        correct_inplace(frame, np.zeros((4, 6, 3), np.uint8), corr=correction(1.04))
    with pytest.raises(ValueError):
        correct_inplace(frame, np.zeros((4, 5, 3), np.uint32), corr=correction(1.04))


def test_the_index_byte_pairs_read_as_flat_high_value_low() -> None:
    """The index is `cv2.merge([value, flat])` read as uint16: `flat << 8 | value` only on
    a little-endian CPU, which the import checks (x86-64 and the Pi's arm64 are)."""
    assert correct._pairs_are_little_endian() == (sys.byteorder == "little")
    value, flat = np.array([[7, 255]], np.uint8), np.array([[200, 1]], np.uint8)
    pairs = cv2.merge([value, flat]).view(np.uint16).reshape(value.shape)
    assert np.array_equal(pairs, [[200 << 8 | 7, 1 << 8 | 255]])
