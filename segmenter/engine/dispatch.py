"""A bounded, ordered map of frames over the pool, with per-frame crash isolation.

Frames go out in frame order, a few consecutive ones per task; outcomes come back in
frame order (`pop_ready`), from a small reorder buffer. At most `max_in_flight` tasks are
out, so memory does not grow with the acquisition.

Faults, frame by frame: a task that raises is retried frame by frame once, and a frame
that fails twice becomes a FrameFailure. When a worker dies, every task in flight fails
with it: their frames become suspects, re-run one at a time with nothing beside them, so
that only a frame whose own run kills a worker is charged (twice, and it fails).
`restart(i)` drops everything from frame i on (the caller's flat changed): later results
of the old work are ignored by a generation counter.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from segmenter.engine.seam import Pool
from worker.records import FrameFailure, FrameOutcome
from worker.tasks import ChunkTask, FrameRef

log = logging.getLogger(__name__)

WAIT_SLICE = 0.05
TaskFactory = Callable[[tuple[FrameRef, ...]], ChunkTask]


@dataclass(frozen=True, slots=True)
class InFlight:
    task: ChunkTask
    generation: int
    epoch: int  # the pool's rebuild count when it was sent
    alone: bool = False  # a suspect, run with nothing beside it


class OrderedDispatch:
    """Runs `make_task(frames)` tasks for `refs[start:]` and hands outcomes back in order."""

    def __init__(
        self, pool: Pool, refs: list[FrameRef], *, start: int, chunk: int, make_task: TaskFactory
    ) -> None:
        self.pool, self.refs, self.chunk, self.make_task = pool, refs, chunk, make_task
        self.max_in_flight = 1 if pool.mode == "inline" else 2 * pool.parallelism
        self.generation = 0
        self.in_flight: dict[Future[list[FrameOutcome]], InFlight] = {}
        self.buffer: dict[int, FrameOutcome] = {}
        self.retry: deque[FrameRef] = deque()
        self.suspects: list[FrameRef] = []  # in flight when a worker died, not yet cleared
        self.attempts: dict[int, int] = {}
        self.next_submit = self.next_out = start

    def step(self) -> None:
        """Send what the bounds allow, wait a moment for one task, collect what ended."""
        self._fill()
        done, _ = wait(self.in_flight, timeout=WAIT_SLICE, return_when=FIRST_COMPLETED)
        for fut in done:
            self._collect(fut)

    def busy(self) -> bool:
        """Is there anything to send, wait for or hand back?"""
        return bool(
            self.in_flight
            or self.buffer
            or self.retry
            or self.suspects
            or self.next_submit < len(self.refs)
        )

    def pop_ready(self) -> FrameOutcome | None:
        """The next frame's outcome, in frame order, when it is there."""
        outcome = self.buffer.pop(self.next_out, None)
        if outcome is not None:
            self.next_out += 1
        return outcome

    def restart(self, start: int) -> None:
        """Forget every frame from `start` on; the tasks still out are ignored."""
        self.generation += 1
        self.cancel()
        self.buffer.clear()
        self.retry.clear()
        self.suspects.clear()
        self.next_submit = self.next_out = start

    def drain(self) -> None:
        """On stop: nothing new starts; what runs finishes and is collected."""
        self.cancel()
        while self.in_flight:
            done, _ = wait(self.in_flight, timeout=WAIT_SLICE)
            for fut in done:
                self._collect(fut)
        self.retry.clear()
        self.suspects.clear()

    def cancel(self) -> None:
        for fut in self.in_flight:
            fut.cancel()

    # -- sending ---------------------------------------------------------------------
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
            task = self.make_task(frames)
            fut = self.pool.submit_chunk(task)
            self.in_flight[fut] = InFlight(task, self.generation, self.pool.rebuilds, alone)
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
                self._charge(sent.task, "its worker process died", self._suspect)
            else:
                for ref in sent.task.frames:
                    self._suspect(ref)
            return
        except Exception as exc:
            if sent.generation == self.generation:
                log.warning("task for %s raised %r", sent.task.frames[0].name, exc)
                self._charge(sent.task, f"{type(exc).__name__}: {exc}", self.retry.append)
            return
        if sent.generation != self.generation:
            return
        for outcome in outcomes:
            self.buffer[outcome.index] = outcome
        missing = [f for f in sent.task.frames if f.index not in self.buffer]
        if missing and not self.pool.stop.is_set():
            self.retry.extend(missing)  # the task stopped early: not their fault

    def _settled(self, ref: FrameRef) -> bool:
        return ref.index in self.buffer or ref.index < self.next_out

    def _suspect(self, ref: FrameRef) -> None:
        """Re-run `ref` alone (not charged), unless it is settled or already a suspect."""
        if self._settled(ref) or ref in self.suspects:
            return
        self.suspects.append(ref)
        self.suspects.sort(key=lambda r: r.index)

    def _charge(self, task: ChunkTask, reason: str, again: Callable[[FrameRef], None]) -> None:
        """Charge each frame of `task` an attempt: a second one fails it, else `again`."""
        for ref in task.frames:
            if self._settled(ref):
                continue
            self.attempts[ref.index] = self.attempts.get(ref.index, 0) + 1
            if self.attempts[ref.index] >= 2:
                log.error("frame %s failed twice (%s): skipped", ref.name, reason)
                self.buffer[ref.index] = FrameFailure(
                    ref.index, ref.name, f"failed twice: {reason}"
                )
            else:
                again(ref)
