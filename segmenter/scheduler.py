"""The frame loop of one acquisition: parallel, bounded, and identical to a serial run.

- At most `max_in_flight` tasks are out (tokens): memory does not grow with frames.
- Results are committed in frame order from a small reorder buffer, so the committed
  frames are always a prefix; labels and the flat heuristic see frames in order.
- Order-dependent steps stay parallel. remove_previous_mask: a task of consecutive
  frames recomputes the threshold mask of the frame before it. Flat recalculation:
  frames run speculatively with the current flat; when a committed frame triggers a
  recalculation, later work is dropped (a new generation), the new flat is computed
  on the pool and the frames after it are resubmitted. The result equals the serial
  baseline's, whatever the worker count.
- A task that raises is retried once, frame by frame; a frame that fails twice is
  committed as failed. When a worker dies, every task in flight fails with it: their
  frames are suspects, re-run one at a time with nothing beside them, so that only a
  frame whose own run kills a worker is charged (twice, and it is committed as failed).
  A stop cancels what has not started, lets running frames finish, commits the
  contiguous part and raises Interrupted.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from segmenter import ops
from segmenter.config import Params
from segmenter.engine import WorkerPool
from segmenter.errors import FrameError, Interrupted
from segmenter.flat import flat_window, next_average, should_recalculate
from segmenter.flatcalc import compute_flat
from segmenter.imageio import read_frame
from segmenter.records import FrameFailure, FrameOutcome, FrameResult, ObjectRecord
from segmenter.shm import SharedBlock
from segmenter.streamer import CommittedFrame, FrameStore
from segmenter.worker import ChunkTask, FrameRef, Previous, pack_mask, run_chunk

log = logging.getLogger(__name__)

WAIT_SLICE = 0.05
CommitCallback = Callable[[CommittedFrame], None]
FlatCallback = Callable[[int, npt.NDArray[np.generic]], None]


@dataclass
class RunState:
    """What the committed prefix implies for the next frame."""

    committed: list[CommittedFrame] = field(default_factory=list)
    good: int = 0  # committed frames that did not fail
    average: float = 0.0  # the baseline's running mean of their kept-object counts
    flat_id: int = 0  # the flat in effect is flat_window(flat_id, ...)
    objects: int = 0

    def add(self, frame: CommittedFrame, n_frames: int, params: Params) -> bool:
        """Account for a committed frame; True when it triggers a new flat. Only a slim
        copy is kept: the objects stay in the frame's JSONL line (memory stays flat)."""
        self.committed.append(replace(frame, objects=(), crop_sizes=()))
        if frame.failed is not None:
            return False
        k = len(frame.objects)
        nxt = frame.index + 1
        trigger = nxt < n_frames and should_recalculate(k, self.average, params)
        self.average = next_average(self.average, k, self.good)
        self.good += 1
        self.objects += k
        if trigger:
            self.flat_id = nxt
        return trigger

    @classmethod
    def replay(cls, frames: list[CommittedFrame], n_frames: int, params: Params) -> RunState:
        state = cls()
        for frame in frames:
            state.add(frame, n_frames, params)
        return state


@dataclass(frozen=True, slots=True)
class _Sent:
    task: ChunkTask
    generation: int
    epoch: int
    alone: bool = False  # a suspect, run with nothing beside it


class FrameScheduler:
    def __init__(
        self,
        pool: WorkerPool,
        refs: list[FrameRef],
        shape: tuple[int, int],
        params: Params,
        store: FrameStore,
        state: RunState,
        on_commit: CommitCallback,
        on_flat: FlatCallback,
    ) -> None:
        self.pool, self.refs, self.shape, self.params = pool, refs, shape, params
        self.store, self.state = store, state
        self.on_commit, self.on_flat = on_commit, on_flat
        self.chunk = 4 if params.remove_previous_mask else 1
        self.max_in_flight = 1 if pool.mode == "inline" else 2 * pool.parallelism
        self.generation = 0
        self.in_flight: dict[Future[list[FrameOutcome]], _Sent] = {}
        self.buffer: dict[int, FrameOutcome] = {}
        self.retry: deque[FrameRef] = deque()
        self.suspects: list[FrameRef] = []  # in flight when a worker died, not yet cleared
        self.attempts: dict[int, int] = {}
        self.next_submit = self.next_commit = len(state.committed)
        self.flat: SharedBlock | None = None
        self.boundary_mask: bytes | None = None

    # -- main loop -------------------------------------------------------------------
    def run(self) -> None:
        n = len(self.refs)
        try:
            if self.next_commit < n:
                self._load_flat_for_resume()
            while self.next_commit < n:
                if self.pool.stop.is_set():
                    self._drain()
                    raise Interrupted(f"stopped after {self.next_commit} of {n} frames")
                self._fill()
                done, _ = wait(self.in_flight, timeout=WAIT_SLICE, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._collect(fut)
                self._commit_ready()
        finally:
            for fut in self.in_flight:
                fut.cancel()
            if self.flat is not None:
                self.flat.close()

    def _flat_block(self, flat_id: int) -> SharedBlock:
        window = flat_window(flat_id, len(self.refs), self.params.flat_frames)
        log.debug("flat from frames %d..%d", window.start, window.stop - 1)
        return compute_flat(self.pool, [self.refs[i] for i in window], self.shape)

    def _load_flat_for_resume(self) -> None:
        start = self.next_commit
        if self.params.remove_previous_mask and start > 0 and self.state.flat_id == start:
            previous_flat = self.state.committed[-1].flat_id
            old = self._flat_block(previous_flat)
            try:
                self.boundary_mask = self._threshold_of(self.refs[start - 1], old)
            finally:
                old.close()
        self.flat = self._flat_block(self.state.flat_id)
        self.on_flat(self.state.flat_id, self.flat.array)

    def _threshold_of(self, ref: FrameRef, flat: SharedBlock) -> bytes | None:
        try:
            frame = read_frame(Path(ref.path))
        except FrameError:  # a frame that failed has no mask to remove
            return None
        return pack_mask(ops.frame_threshold(frame, flat.array, self.params))  # type: ignore[arg-type]

    # -- submitting ------------------------------------------------------------------
    def _previous(self, start: int) -> Previous | None:
        if not self.params.remove_previous_mask or start == 0:
            return None
        if start == self.state.flat_id and self.boundary_mask is not None:
            return Previous(packed=self.boundary_mask)
        assert self.flat is not None
        return Previous(frame=self.refs[start - 1], flat=self.flat.ref)

    def _next_frames(self) -> tuple[FrameRef, ...]:
        if self.retry:
            return (self.retry.popleft(),)
        stop = min(len(self.refs), self.next_submit + self.chunk)
        frames = tuple(self.refs[self.next_submit : stop])
        self.next_submit = stop
        return frames

    def _fill(self) -> None:
        while len(self.in_flight) < self.max_in_flight and (
            self.suspects or self.retry or self.next_submit < len(self.refs)
        ):
            alone = bool(self.suspects)
            if alone and self.in_flight:
                return  # a suspect runs with nothing beside it
            frames = (self.suspects.pop(0),) if alone else self._next_frames()
            assert self.flat is not None
            task = ChunkTask(
                frames,
                self.flat.ref,
                self.state.flat_id,
                self.params,
                self._previous(frames[0].index),
            )
            fut = self.pool.submit(run_chunk, task)
            self.in_flight[fut] = _Sent(task, self.generation, self.pool.rebuilds, alone)
            if alone:
                return

    # -- collecting ------------------------------------------------------------------
    def _collect(self, fut: Future[list[FrameOutcome]]) -> None:
        sent = self.in_flight.pop(fut)
        try:
            outcomes = fut.result()
        except CancelledError:
            return
        except BrokenProcessPool:
            if sent.epoch == self.pool.rebuilds:
                self.pool.rebuild()
            if sent.generation != self.generation:
                return
            if sent.alone:  # it broke the pool on its own: charged
                self._retry(sent.task, "its worker process died", self._suspect)
            else:
                for ref in sent.task.frames:
                    self._suspect(ref)
            return
        except Exception as exc:
            if sent.generation == self.generation:
                log.warning("task for %s raised %r", sent.task.frames[0].name, exc)
                self._retry(sent.task, f"{type(exc).__name__}: {exc}")
            return
        if sent.generation != self.generation:
            return
        for outcome in outcomes:
            self.buffer[outcome.index] = outcome
        missing = [f for f in sent.task.frames if f.index not in self.buffer]
        if missing and not self.pool.stop.is_set():
            self.retry.extend(missing)

    def _suspect(self, ref: FrameRef) -> None:
        """Re-run `ref` alone (not charged), unless it is done or already a suspect."""
        if ref.index in self.buffer or ref.index < self.next_commit or ref in self.suspects:
            return
        self.suspects.append(ref)
        self.suspects.sort(key=lambda r: r.index)

    def _retry(
        self, task: ChunkTask, reason: str, again: Callable[[FrameRef], None] | None = None
    ) -> None:
        """Charge each frame of `task` an attempt: a second one fails it, else `again`
        (the retry queue by default)."""
        for ref in task.frames:
            if ref.index in self.buffer or ref.index < self.next_commit:
                continue
            self.attempts[ref.index] = self.attempts.get(ref.index, 0) + 1
            if self.attempts[ref.index] >= 2:
                log.error("frame %s failed twice (%s): skipped", ref.name, reason)
                self.buffer[ref.index] = FrameFailure(
                    ref.index, ref.name, f"failed twice: {reason}"
                )
            elif again is not None:
                again(ref)
            else:
                self.retry.append(ref)

    # -- committing ------------------------------------------------------------------
    def _commit_ready(self, draining: bool = False) -> None:
        while self.next_commit in self.buffer:
            outcome = self.buffer.pop(self.next_commit)
            trigger = self._commit(outcome)
            self.next_commit += 1
            if trigger:
                if draining:
                    self.buffer.clear()
                else:
                    self._recalculate()
                return

    def _commit(self, outcome: FrameOutcome) -> bool:
        if isinstance(outcome, FrameFailure):
            frame = CommittedFrame(
                outcome.index, outcome.name, self.state.flat_id, (), (), outcome.reason
            )
            crops: tuple[bytes, ...] = ()
        else:
            frame, crops = self._labelled(outcome), outcome.crops
        self.store.commit(frame, crops)
        trigger = self.state.add(frame, len(self.refs), self.params)
        self.on_commit(frame)
        return trigger

    def _labelled(self, result: FrameResult) -> CommittedFrame:
        first = self.state.objects  # labels run over the acquisition from 0
        objects = tuple(
            ObjectRecord(o.object_id, o.img_file_name, {**o.features, "label": first + i})
            for i, o in enumerate(result.objects)
        )
        sizes = tuple(len(c) for c in result.crops)
        return CommittedFrame(result.index, result.name, result.flat_id, objects, sizes)

    def _recalculate(self) -> None:
        """The committed frame asked for a new flat: drop later work, compute, resubmit."""
        self.generation += 1
        for fut in self.in_flight:
            fut.cancel()
        self.buffer.clear()
        self.retry.clear()
        self.suspects.clear()
        nxt = self.next_commit
        self.next_submit = nxt
        assert self.flat is not None
        log.info("flat field recalculated before frame %d", nxt)
        if self.params.remove_previous_mask:
            self.boundary_mask = self._threshold_of(self.refs[nxt - 1], self.flat)
        old, self.flat = self.flat, None
        old.close()
        self.flat = self._flat_block(nxt)
        self.on_flat(nxt, self.flat.array)

    def _drain(self) -> None:
        """On stop: nothing new starts; running frames finish; the contiguous part commits."""
        for fut in self.in_flight:
            fut.cancel()
        while self.in_flight:
            done, _ = wait(self.in_flight, timeout=WAIT_SLICE)
            for fut in done:
                self._collect(fut)
        self.retry.clear()
        self.suspects.clear()
        self._commit_ready(draining=True)
        self.buffer.clear()
