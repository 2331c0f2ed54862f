"""Fault injection for the test suite, behind one seam. The parent parses the suite's
spec once (`parse_faults`, refusing what it does not know) into a `FaultPlan`, hands it
to each worker's set-up (`tasks.init_worker` -> `install`), and the task functions call
`at(name, stage)`, which does nothing but one test of a global unless a plan is
installed. Production never installs one (segmenter.engine.fault_switch).

The spec, faults separated by `;`, each `KIND:NAME[:MARKER]`:
`raise:NAME` raises in every attempt at frame NAME; `killalways:NAME` SIGKILLs the worker
at every attempt; `raiseonce:NAME:MARKER` raises, and `kill:NAME:MARKER` SIGKILLs, the
first time a worker reaches frame NAME (MARKER is a file created first: the first time
in any worker); `killflat:NAME:MARKER` the first time NAME is decoded for a flat field;
`killmedian:median:MARKER` the first time median strips are computed.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

# kind -> (stage, what it does, whether only once: then a MARKER file is required)
KINDS: dict[str, tuple[str, str, bool]] = {
    "raise": ("frame", "raise", False),
    "killalways": ("frame", "kill", False),
    "raiseonce": ("frame", "raise", True),
    "kill": ("frame", "kill", True),
    "killflat": ("flat", "kill", True),
    "killmedian": ("median", "kill", True),
}


@dataclass(frozen=True, slots=True)
class Fault:
    stage: str  # frame, flat (a decode for the flat field) or median
    name: str  # the frame's file name; `median` for the median stage
    action: str  # raise or kill
    marker: str | None  # once: the file that says it happened


@dataclass(frozen=True, slots=True)
class FaultPlan:
    faults: tuple[Fault, ...]

    def at(self, name: str, stage: str) -> None:
        for fault in self.faults:
            if fault.name != name or fault.stage != stage:
                continue
            if fault.marker is not None:
                if os.path.exists(fault.marker):
                    continue
                Path(fault.marker).touch()
            if fault.action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            once = " (once)" if fault.marker is not None else ""
            raise RuntimeError(f"injected fault at {name}{once}")


def parse_faults(spec: str | None) -> FaultPlan | None:
    """The plan of `spec`, None when it is empty; ValueError naming what is wrong."""
    if not spec:
        return None
    faults = []
    for text in spec.split(";"):
        kind, _, rest = text.partition(":")
        name, _, marker = rest.partition(":")
        if kind not in KINDS or not name:
            raise ValueError(f"fault {text!r}: write KIND:NAME[:MARKER], KIND one of {list(KINDS)}")
        stage, action, once = KINDS[kind]
        if once != bool(marker):
            raise ValueError(f"fault {text!r}: {kind} {'needs' if once else 'takes no'} MARKER")
        faults.append(Fault(stage, name, action, marker or None))
    return FaultPlan(tuple(faults))


_plan: FaultPlan | None = None


def install(plan: FaultPlan | None) -> None:
    """This process's plan (a worker's set-up); None: no fault anywhere."""
    global _plan
    _plan = plan


def at(name: str, stage: str = "frame") -> None:
    """A point where the suite may inject a fault: frame NAME at `stage`."""
    if _plan is not None:
        _plan.at(name, stage)
