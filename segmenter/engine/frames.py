"""The frame loop of one acquisition: parallel, and identical to a serial run.

Frames go through `OrderedDispatch` and are committed in frame order, so the committed
frames are always a prefix and labels and the flat heuristic see frames in order. The
flat-field policy is applied here, as frames commit:
- remove_previous_mask: a task of consecutive frames recomputes the threshold mask of
  the frame before it (or is handed it, packed, when the flat changed in between);
- flat recalculation: frames run speculatively with the current flat; when a committed
  frame asks for a new flat (`should_recalculate`), later work is dropped, the new flat
  is computed on the pool and the frames after it are sent again.
A stop cancels what has not started, lets running frames finish, commits the contiguous
part and raises Interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from segmenter.engine.dispatch import OrderedDispatch
from segmenter.engine.flatfield import flat_window, next_average, should_recalculate
from segmenter.engine.pool import FlatField, WorkerPool
from segmenter.errors import FrameError, Interrupted
from streamer.journal import CommittedFrame, FrameStore
from worker.decode import read_frame
from worker.kernel import frame_threshold
from worker.params import Params
from worker.records import FrameFailure, FrameOutcome, FrameResult, ObjectRecord
from worker.tasks import ChunkTask, FrameRef, PreviousMask, pack_mask

log = logging.getLogger(__name__)

CommitCallback = Callable[[CommittedFrame], None]
FlatCallback = Callable[[int, FlatField], None]


@dataclass
class RunState:
    """What the committed prefix implies for the next frame."""

    committed: list[CommittedFrame] = field(default_factory=list)
    good: int = 0  # committed frames that did not fail
    average: float = 0.0  # the baseline's running mean of their kept-object counts
    flat_from: int = 0  # the flat in effect is the one computed before this frame
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
            self.flat_from = nxt
        return trigger

    @classmethod
    def replay(cls, frames: list[CommittedFrame], n_frames: int, params: Params) -> RunState:
        state = cls()
        for frame in frames:
            state.add(frame, n_frames, params)
        return state


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
        chunk = 4 if params.remove_previous_mask else 1
        self.dispatch = OrderedDispatch(pool, refs, len(state.committed), chunk, self._task)
        self.flat: FlatField | None = None
        self.boundary_mask: bytes | None = None  # the mask before a flat change, packed

    def run(self) -> None:
        n = len(self.refs)
        try:
            if self.dispatch.next_out < n:
                self._load_flat_for_resume()
            while self.dispatch.next_out < n:
                if self.pool.stop.is_set():
                    self.dispatch.drain()
                    self._commit_ready(draining=True)
                    raise Interrupted(f"stopped after {self.dispatch.next_out} of {n} frames")
                self.dispatch.step()
                self._commit_ready()
        finally:
            self.dispatch.cancel()
            if self.flat is not None:
                self.flat.close()

    # -- the flat field -------------------------------------------------------------
    def _flat_block(self, flat_from: int) -> FlatField:
        window = flat_window(flat_from, len(self.refs), self.params.flat_frames)
        log.debug("flat from frames %d..%d", window.start, window.stop - 1)
        return self.pool.compute_flat([self.refs[i] for i in window], self.shape)

    def _load_flat_for_resume(self) -> None:
        start = self.dispatch.next_out
        if self.params.remove_previous_mask and start > 0 and self.state.flat_from == start:
            old = self._flat_block(self.state.committed[-1].flat_from)
            try:
                self.boundary_mask = self._threshold_of(self.refs[start - 1], old)
            finally:
                old.close()
        self.flat = self._flat_block(self.state.flat_from)
        self.on_flat(self.state.flat_from, self.flat)

    def _threshold_of(self, ref: FrameRef, flat: FlatField) -> bytes | None:
        try:
            frame = read_frame(Path(ref.path))
        except FrameError:  # a frame that failed has no mask to remove
            return None
        return pack_mask(frame_threshold(frame, flat.array, self.params))  # type: ignore[arg-type]

    def _recalculate(self) -> None:
        """The committed frame asked for a new flat: drop later work, compute, send again."""
        nxt = self.dispatch.next_out
        self.dispatch.restart(nxt)
        assert self.flat is not None
        log.info("flat field recalculated before frame %d", nxt)
        if self.params.remove_previous_mask:
            self.boundary_mask = self._threshold_of(self.refs[nxt - 1], self.flat)
        old, self.flat = self.flat, None
        old.close()
        self.flat = self._flat_block(nxt)
        self.on_flat(nxt, self.flat)

    # -- tasks -------------------------------------------------------------------------
    def _task(self, frames: tuple[FrameRef, ...]) -> ChunkTask:
        assert self.flat is not None
        start = frames[0].index
        return ChunkTask(
            frames, self.flat.ref, self.state.flat_from, self.params, self._previous(start)
        )

    def _previous(self, start: int) -> PreviousMask | None:
        if not self.params.remove_previous_mask or start == 0:
            return None
        if start == self.state.flat_from and self.boundary_mask is not None:
            return PreviousMask(packed=self.boundary_mask)
        assert self.flat is not None
        return PreviousMask(frame=self.refs[start - 1], flat=self.flat.ref)

    # -- committing ------------------------------------------------------------------
    def _commit_ready(self, draining: bool = False) -> None:
        while (outcome := self.dispatch.pop_ready()) is not None:
            if self._commit(outcome):
                if not draining:
                    self._recalculate()
                return  # draining: what follows used the old flat

    def _commit(self, outcome: FrameOutcome) -> bool:
        if isinstance(outcome, FrameFailure):
            frame = CommittedFrame(
                outcome.index, outcome.name, self.state.flat_from, (), (), outcome.reason
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
        return CommittedFrame(result.index, result.name, result.flat_from, objects, sizes)
