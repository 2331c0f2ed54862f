"""The functions a pool process runs. Module-level functions only: picklable, no file writes.

A task reads its frames, takes the flat field from shared memory (zero copy) and
returns small records plus encoded crop bytes. Workers ignore SIGINT (the parent
decides what a Ctrl-C means) and check the shared stop flag between frames.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from worker.correct import median_rows
from worker.decode import printable_name, read_frame
from worker.errors import FrameError
from worker.faults import FaultPlan
from worker.faults import at as fault_point
from worker.faults import install as install_faults
from worker.heap import trim
from worker.kernel import frame_threshold, segment_frame
from worker.params import Params
from worker.preview import PreviewRequest, render
from worker.records import FrameFailure, FrameOutcome, FrameResult, ObjectRecord
from worker.shared import Attachments, SharedArray

log = logging.getLogger(__name__)

U8 = npt.NDArray[np.uint8]
PARENT_POLL_S = 0.5


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


_attached = Attachments()
_stop: StopFlag | None = None
_local = threading.local()  # per thread: the frame being segmented, reused (see _load)


def init_worker(
    stop: StopFlag | None,
    threads: int = 1,
    faults: FaultPlan | None = None,
    own_process: bool = True,
    parent: int | None = None,
) -> None:
    """Pool initializer: one OpenCV thread per worker, SIGINT left to the parent, and an
    exit within a second of the death of `parent` (the process that owns the pool: a
    forkserver's children are not its children, and would wait for work for good).

    `faults` is the test suite's plan (worker.faults; None in production).
    """
    global _stop
    _stop = stop
    install_faults(faults)
    cv2.setNumThreads(threads)
    if own_process:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if own_process and parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """Poll the pool's owner; when it is gone, leave at once (nothing to hand work to)."""
    while True:
        time.sleep(PARENT_POLL_S)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass


def _stopping() -> bool:
    return _stop is not None and _stop.is_set()


@dataclass(frozen=True, slots=True)
class FrameRef:
    index: int
    path: str

    @property
    def name(self) -> str:
        return printable_name(Path(self.path))

    @property
    def stem(self) -> str:
        return Path(self.name).stem


@dataclass(frozen=True, slots=True)
class PreviousMask:
    """Where the first frame of a task gets the previous frame's threshold mask from."""

    frame: FrameRef | None = None  # decode it again with `flat`
    flat: SharedArray | None = None
    packed: bytes | None = None  # or take it as packed bits (after a flat change)


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """Consecutive frames segmented with one flat field."""

    frames: tuple[FrameRef, ...]
    flat: SharedArray
    flat_from: int  # the flat is the one computed before this frame index
    params: Params
    previous: PreviousMask | None = None
    preview: PreviewRequest | None = None  # one frame's live preview (worker.preview)


def pack_mask(mask: U8) -> bytes:
    return np.packbits(mask > 0).tobytes()


def unpack_mask(data: bytes, shape: tuple[int, int]) -> U8:
    bits = np.unpackbits(np.frombuffer(data, np.uint8), count=shape[0] * shape[1])
    return (bits.reshape(shape) * np.uint8(255)).astype(np.uint8)


def _load(ref: FrameRef, flat: U8) -> U8:
    """Decode a frame into this thread's reused buffer (a new 37 MB array per frame costs
    thousands of page faults; a Dask worker may run several tasks at once, one per
    thread). The frame is consumed before the next one is loaded."""
    buffer: U8 | None = getattr(_local, "buffer", None)
    if buffer is None or buffer.shape != flat.shape:
        buffer = _local.buffer = np.empty(flat.shape, np.uint8)
    frame = read_frame(Path(ref.path), buffer)
    if frame.shape != flat.shape:
        h, w = flat.shape[:2]
        got = f"{frame.shape[1]}x{frame.shape[0]}"
        raise FrameError(ref.name, f"size {got} differs from the acquisition's {w}x{h}")
    return frame


def _previous_mask(task: ChunkTask, shape: tuple[int, int], flat: Any) -> U8 | None:
    prev = task.previous
    if prev is None or not task.params.remove_previous_mask:
        return None
    if prev.packed is not None:
        return unpack_mask(prev.packed, shape)
    if prev.frame is None or flat is None:
        return None
    try:
        frame = _load(prev.frame, flat)
    except FrameError:
        return None  # the previous frame failed: nothing to remove
    return frame_threshold(frame, flat, task.params)


def segment_one(ref: FrameRef, flat: Any, *, task: ChunkTask, previous: U8 | None) -> Any:
    started = time.perf_counter()
    fault_point(ref.name)
    frame = _load(ref, flat)
    seg, raw = segment_frame(frame, flat, params=task.params, previous=previous)
    objects = tuple(
        ObjectRecord(f"{ref.stem}_{i}", f"{ref.stem}_{i}.jpg", feats, contour)
        for i, (feats, contour) in enumerate(zip(seg.features, seg.contours, strict=True))
    )
    preview = None
    if task.preview is not None and task.preview.index == ref.index:
        boxes = ((int(f["bx"]), int(f["by"]), int(f["bw"]), int(f["bh"])) for f in seg.features)
        try:  # the frame, corrected in place; a preview never costs the frame
            preview = render(frame, boxes, request=task.preview)
        except (cv2.error, ValueError) as exc:
            log.warning("no preview of %s: %s", ref.name, exc)
    result = FrameResult(
        ref.index,
        ref.name,
        objects,
        tuple(seg.crops),
        task.flat_from,
        seconds=time.perf_counter() - started,
        preview=preview,
        qc=seg.qc,
    )
    return result, raw


def run_chunk(task: ChunkTask) -> list[FrameOutcome]:
    """Segment a task's frames in order; stop early (returning what is done) on request.
    The flats are read from shared memory by the names the task carries."""
    prev_flat = task.previous.flat if task.previous else None
    live = {task.flat.name} | ({prev_flat.name} if prev_flat else set())
    _attached.retain(live)  # flats of earlier recalculations and the flat stack go
    flat = _attached.get(task.flat)
    prev_array = _attached.get(prev_flat) if prev_flat is not None else None
    return run_chunk_with(task, flat, prev_array)


def run_chunk_with(task: ChunkTask, flat: Any, prev_flat: Any = None) -> list[FrameOutcome]:
    """`run_chunk` with the flats handed over as arrays: on a Dask cluster they are the
    flat computed there once and replicated to every worker, resolved by Dask from the
    futures the task is submitted with (`task.flat` then names that future's key)."""
    shape = (int(flat.shape[0]), int(flat.shape[1]))
    previous = _previous_mask(task, shape, prev_flat)
    out: list[FrameOutcome] = []
    for ref in task.frames:
        if _stopping():
            break
        try:
            result, raw = segment_one(ref, flat, task=task, previous=previous)
        except FrameError as exc:
            out.append(FrameFailure(ref.index, ref.name, exc.reason))
            previous = None
            continue
        previous = raw if task.params.remove_previous_mask else None
        out.append(result)
    return out


def _shed() -> None:
    """What segmenting left in this process goes before a flat's frames are decoded (the
    run's memory peak: the flat's stack beside every worker): the frame buffer, the
    flats of earlier recalculations, the free heap. The next frame allocates again."""
    _local.__dict__.pop("buffer", None)
    _attached.retain(set())
    trim()


def decode_into(stack: SharedArray, slot: int, path: str) -> tuple[int, int]:
    """Decode one flat frame into its slot of the shared stack; returns its (w, h)."""
    _shed()
    try:
        fault_point(Path(path).name, "flat")
        array = _attached.get(stack)
        frame = read_frame(Path(path), array[slot])
        (fh, fw), (h, w) = frame.shape[:2], array.shape[1:3]
        fits = frame.shape == array.shape[1:]
        if fits and not np.shares_memory(frame, array):
            array[slot] = frame
        del array, frame  # views of the stack: it is detached below
    finally:
        _attached.release(stack.name)
    if not fits:
        raise FrameError(printable_name(Path(path)), f"size {fw}x{fh} differs from {w}x{h}")
    return fw, fh


def decode_frame(path: str, shape: tuple[int, int]) -> U8:
    """One flat-field frame of the acquisition's (height, width), decoded: on a Dask
    cluster the array stays on its worker until the median task takes it."""
    fault_point(Path(path).name, "flat")
    frame = read_frame(Path(path))
    if frame.shape[:2] != shape:
        (fh, fw), (h, w) = frame.shape[:2], shape
        raise FrameError(printable_name(Path(path)), f"size {fw}x{fh} differs from {w}x{h}")
    return frame


def frame_rows(frame: U8, y0: int, y1: int) -> U8:
    """Rows y0:y1 of a decoded frame: what one median strip needs of it."""
    return frame[y0:y1]


def join_rows(*strips: U8) -> U8:
    return np.concatenate(strips)


def median_flat(*frames: U8) -> U8:
    """The flat of `frames` (whole frames or the same rows of each): the per-pixel median
    (the upper middle for an even count), as `median_into_flat` computes it."""
    fault_point("median", "median")
    stack = np.stack(frames)
    out = np.empty(stack.shape[1:], np.uint8)
    median_rows(stack, out, y0=0, y1=stack.shape[1])
    return out


def median_into_flat(stack: SharedArray, count: int, flat: SharedArray, y0: int, y1: int) -> None:
    """Median of the first `count` stack frames, rows y0:y1, into the same rows of the flat."""
    fault_point("median", "median")
    frames = _attached.get(stack)[:count]
    target = _attached.get(flat)
    median_rows(frames, target, y0=y0, y1=y1)  # type: ignore[arg-type]
    del frames, target
    _attached.release(stack.name)  # the flat stays attached: the frames read it next
