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
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from segmenter.engine.dispatch import OrderedDispatch
from segmenter.engine.flat_rules import settled_flat_window
from segmenter.engine.preview import Previews
from segmenter.engine.run_state import RunState
from segmenter.engine.seam import FlatField, Pool
from segmenter.engine.source import FrameSource
from segmenter.errors import AcquisitionError, FrameError, Interrupted
from streamer.journal import CommittedFrame, FrameStore
from worker.decode import HEADER_BYTES, jpeg_size, read_frame
from worker.inputs import read_head
from worker.kernel import frame_threshold
from worker.params import Params
from worker.qc import static_flags
from worker.records import FrameFailure, FrameOutcome, FrameResult, ObjectRecord
from worker.tasks import ChunkTask, FrameRef, PreviousMask, pack_mask

log = logging.getLogger(__name__)

CommitCallback = Callable[[CommittedFrame], None]
FlatCallback = Callable[[int, FlatField], None]


def frame_shape(frames: Sequence[Path]) -> tuple[int, int]:
    """(height, width) of the acquisition: the size most frames' JPEG headers give (the
    first frame may be the odd one out). Frames of another size fail one by one."""
    sizes: Counter[tuple[int, int]] = Counter()
    for path in frames:
        try:
            size = jpeg_size(read_head(path, HEADER_BYTES))  # a FIFO is refused, not waited on
        except OSError:
            continue
        if size is not None:
            sizes[size[1], size[0]] += 1
            if 2 * sizes[size[1], size[0]] > len(frames):
                break  # a majority: the other headers cannot change the answer
    if not sizes:
        raise AcquisitionError(f"{frames[0].parent}: no frame has a readable JPEG header")
    return sizes.most_common(1)[0][0]


NewsCallback = Callable[[], None]
WAIT_SLICE = 0.05  # seconds: how long the loop waits for a live frame before looking again


class FrameScheduler:
    """The frames of `source`, through the pool, committed in order to `store`."""

    def __init__(
        self,
        pool: Pool,
        source: FrameSource,
        *,
        params: Params,
        store: FrameStore,
        state: RunState,
        on_commit: CommitCallback,
        on_flat: FlatCallback,
        on_news: NewsCallback,
        previews: Previews | None = None,
    ) -> None:
        """`previews`: which frames' workers also make a live preview (None: none)."""
        self.pool, self.source, self.params = pool, source, params
        self.previews = previews
        self.store, self.state = store, state
        self.on_commit, self.on_flat, self.on_news = on_commit, on_flat, on_news
        self.refs: list[FrameRef] = []  # grows as the source learns of frames
        self._take_frames()
        chunk = 4 if params.remove_previous_mask else 1
        self.dispatch = OrderedDispatch(
            pool, self.refs, start=len(state.committed), chunk=chunk, make_task=self._task
        )
        self.shape: tuple[int, int] | None = None
        self.flat: FlatField | None = None  # None until the flat in effect is computed
        self.boundary_mask: bytes | None = None  # the mask before a flat change, packed
        # A resume right at a flat change: the mask of the frame before it needs the old flat.
        self.boundary_pending = (
            params.remove_previous_mask
            and len(state.committed) > 0
            and state.flat_from == len(state.committed)
        )
        # the previous committed frame's contours, for the static check (worker.qc)
        last = store.frame(len(state.committed) - 1) if state.committed else None
        self.contours = _contours(last)

    def run(self) -> None:
        try:
            while True:
                if self.source.refresh(0) and self._take_frames():
                    self.on_news()
                n = len(self.refs)
                if self.pool.stop.is_set():
                    self.dispatch.drain()
                    self._commit_ready(draining=True)
                    raise Interrupted(f"stopped after {self.dispatch.next_out} of {n} frames")
                if self.dispatch.next_out >= n and self.source.ended:
                    return
                if self.flat is None and not self._prepare_flat():
                    self._wait()
                    continue
                if not self.dispatch.busy():
                    self._wait()
                    continue
                self.dispatch.step()
                self._commit_ready()
        finally:
            self.dispatch.cancel()
            if self.flat is not None:
                self.flat.close()

    def _take_frames(self) -> bool:
        frames = self.source.frames
        added = len(frames) > len(self.refs)
        for i in range(len(self.refs), len(frames)):
            self.refs.append(FrameRef(i, str(frames[i])))
        return added or self.source.ended

    def _wait(self) -> None:
        """Nothing to do until the source has news (a live acquisition waits for frames)."""
        if self.source.refresh(WAIT_SLICE) and self._take_frames():
            self.on_news()

    # -- the flat field -------------------------------------------------------------
    def _settled(self, flat_from: int) -> range | None:
        return settled_flat_window(
            flat_from, len(self.refs), ended=self.source.ended, flat_frames=self.params.flat_frames
        )

    def _prepare_flat(self) -> bool:
        """Compute the flat in effect for the next frame, once its frames are known and
        there is a frame to use it; False: wait for frames."""
        start = self.dispatch.next_out
        window = self._settled(self.state.flat_from)
        if start >= len(self.refs) or window is None:
            return False
        if self.boundary_pending:
            old_window = self._settled(self.state.committed[-1].flat_from)
            if old_window is None:
                return False
            old = self._flat_block(old_window)
            try:
                self.boundary_mask = self._threshold_of(self.refs[start - 1], old)
            finally:
                old.close()
            self.boundary_pending = False
        self.flat = self._flat_block(window)
        self.on_flat(self.state.flat_from, self.flat)
        return True

    def _flat_block(self, window: range) -> FlatField:
        if self.shape is None:  # the size most frames known by now have
            self.shape = frame_shape([Path(r.path) for r in self.refs])
        log.debug("flat from frames %d..%d", window.start, window.stop - 1)
        return self.pool.compute_flat([self.refs[i] for i in window], self.shape)

    def _threshold_of(self, ref: FrameRef, flat: FlatField) -> bytes | None:
        try:
            frame = read_frame(Path(ref.path))
        except FrameError:  # a frame that failed has no mask to remove
            return None
        return pack_mask(frame_threshold(frame, flat.array, self.params))  # type: ignore[arg-type]

    def _recalculate(self) -> None:
        """The committed frame asked for a new flat: drop later work; the flat is computed
        once its frames are known (`_prepare_flat`), if a frame follows at all."""
        nxt = self.dispatch.next_out
        if self.source.ended and nxt >= len(self.refs):
            return  # it was the last frame
        self.dispatch.restart(nxt)
        assert self.flat is not None
        log.info("flat field recalculated before frame %d", nxt)
        if self.params.remove_previous_mask:
            self.boundary_mask = self._threshold_of(self.refs[nxt - 1], self.flat)
        old, self.flat = self.flat, None
        old.close()

    # -- tasks -------------------------------------------------------------------------
    def _task(self, frames: tuple[FrameRef, ...]) -> ChunkTask:
        assert self.flat is not None
        start = frames[0].index
        preview = self.previews.request(start) if self.previews is not None else None
        return ChunkTask(
            frames,
            self.flat.ref,
            self.state.flat_from,
            self.params,
            self._previous(start),
            preview,
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
            if outcome.preview is not None and self.previews is not None:
                self.previews.keep(outcome.index, outcome.preview)
        self.store.commit(frame, crops)
        self.contours = _contours(frame)
        trigger = self.state.add(frame, self.params)
        self.on_commit(frame)
        return trigger

    def _labelled(self, result: FrameResult) -> CommittedFrame:
        """Labels run over the acquisition from 0; `static` (worker.qc) against the
        previous committed frame, which is the previous frame (frames commit in order)."""
        first = self.state.objects
        flags = static_flags(self.contours, [o.contour for o in result.objects])
        objects = tuple(
            ObjectRecord(
                o.object_id,
                o.img_file_name,
                {**o.features, "label": first + i, "static": int(flag)},
                o.contour,
            )
            for i, (o, flag) in enumerate(zip(result.objects, flags, strict=True))
        )
        sizes = tuple(len(c) for c in result.crops)
        qc = None if result.qc is None else result.qc.with_static(sum(flags))
        return CommittedFrame(result.index, result.name, result.flat_from, objects, sizes, qc=qc)


def _contours(frame: CommittedFrame | None) -> list[list[list[int]] | None] | None:
    """A committed frame's object contours; None for none (no frame, or it failed)."""
    if frame is None or frame.failed is not None:
        return None
    return [o.contour for o in frame.objects]
