"""What the committed prefix of an acquisition implies for the next frame: the frames
committed (slim copies), the flat in effect and whether the next one is due (the old
program's running mean, engine.flat_rules), the objects so far. The frame loop
(engine.frames) adds each frame as it commits; a resume replays the journal's prefix."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from segmenter.engine.flat_rules import next_average, should_recalculate
from streamer.journal import CommittedFrame
from worker.params import Params


@dataclass
class RunState:
    """What the committed prefix implies for the next frame."""

    committed: list[CommittedFrame] = field(default_factory=list)
    good: int = 0  # committed frames that did not fail
    average: float = 0.0  # the baseline's running mean of their kept-object counts
    flat_from: int = 0  # the flat in effect is the one computed before this frame
    objects: int = 0

    def add(self, frame: CommittedFrame, params: Params) -> bool:
        """Account for a committed frame; True when it asks for a new flat from the next
        frame on (computed only if there is one). Only a slim copy is kept: the objects
        stay in the frame's JSONL line (memory stays flat)."""
        self.committed.append(replace(frame, objects=(), crop_sizes=()))
        if frame.failed is not None:
            return False
        k = len(frame.objects)
        nxt = frame.index + 1
        trigger = should_recalculate(k, self.average, params)
        self.average = next_average(self.average, k, self.good)
        self.good += 1
        self.objects += k
        if trigger:
            self.flat_from = nxt
        return trigger

    @classmethod
    def replay(cls, frames: list[CommittedFrame], params: Params) -> RunState:
        state = cls()
        for frame in frames:
            state.add(frame, params)
        return state
