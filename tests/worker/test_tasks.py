"""The pool's flat-field tasks (worker.tasks): the median into the shared flat, as the
local pool and the cluster compute it, and what a worker sheds before a flat's decode."""

from __future__ import annotations

import platform
from pathlib import Path

import cv2
import numpy as np
import pytest

from segmenter.engine.shared_memory import SharedBlock
from worker import heap, tasks
from worker.params import Params


@pytest.mark.parametrize("count", [1, 2, 5, 9])
def test_both_producers_write_the_sorted_stack_s_middle(count: int) -> None:
    """The shared flat (by row strips, the local pool) and the cluster's flat are the
    uint8 element `count // 2` of the sorted frames: the median, the upper middle for an
    even count."""
    rng = np.random.default_rng(count)
    frames = rng.integers(0, 256, (count + 1, 37, 11, 3), dtype=np.uint8)
    expected = np.sort(frames[:count], axis=0)[count // 2]
    stack, flat = SharedBlock(frames.shape, "uint8"), SharedBlock(frames.shape[1:], "uint8")
    try:
        stack.array[...] = frames
        for y0, y1 in ((0, 5), (5, 36), (36, 37)):
            tasks.median_into_flat(stack.ref, count, flat.ref, y0, y1)
        assert flat.array.dtype == np.uint8
        assert np.array_equal(flat.array, expected)
    finally:
        tasks._attached.close()
        stack.close()
        flat.close()
    strips = [
        tasks.median_flat(*(f[y0:y1] for f in frames[:count])) for y0, y1 in ((0, 20), (20, 37))
    ]
    assert np.array_equal(tasks.join_rows(*strips), expected)


def test_a_flat_decode_sheds_what_segmenting_left(tmp_path: Path) -> None:
    """Segmenting leaves the frame buffer and the flat attached; the next flat's decode
    (the run's memory peak) drops both before it decodes into the stack."""
    frame = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    path = tmp_path / "f.jpg"
    assert cv2.imwrite(str(path), frame)
    flat, stack = SharedBlock(frame.shape, "uint8"), SharedBlock((1, *frame.shape), "uint8")
    try:
        flat.array[...] = 128
        task = tasks.ChunkTask((tasks.FrameRef(0, str(path)),), flat.ref, 0, Params())
        assert len(tasks.run_chunk(task)) == 1
        assert tasks._local.buffer.shape == frame.shape
        assert flat.ref.name in tasks._attached._open
        tasks.decode_into(stack.ref, 0, str(path))
        assert getattr(tasks._local, "buffer", None) is None
        assert not tasks._attached._open  # neither the flat nor the stack stays attached
        assert np.array_equal(stack.array[0], np.asarray(cv2.imread(str(path))))
    finally:
        tasks._attached.close()
        flat.close()
        stack.close()


def test_the_heap_is_trimmed_where_glibc_runs_the_workers() -> None:
    """On glibc (the Pi's Raspberry Pi OS, this machine) the free heap goes back."""
    assert heap.trim() == (platform.libc_ver()[0] == "glibc")
