"""The dashboard's stream: what `status/segmenter` says, for the dashboard and the old
program (SPEC's "legacy" status stream; not benchmark's old method).

SPEC section 4: the unit of work is one `segment` command received with action
"segment" (the dashboard's and the old program's command). Each unit gets exactly one
terminal status (`Done`, `Interrupted` or an error), after all of its work and in the
order the commands came, whatever else the service runs meanwhile. Work that came
another way (`enqueue`, `segmenter send`) is never on this stream. A stop that repeats
one still being carried out, or comes within REPEAT_WINDOW seconds of the `Interrupted`
an earlier stop produced, is the same click: it gets nothing here. Any other stop with
no unit of its own answers `Interrupted` at once, as the old service did.

Not thread-safe: the service calls it under its lock, so the order of statuses is the
order of the calls.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from segmenter.service.status import Status

REPEAT_WINDOW = 2.0  # seconds after a stop's Interrupted in which a stop is the same click


@dataclass
class Unit:
    item: str | None  # None: a command refused before it became a queue item
    terminal: str | None = None  # set once the unit has ended
    stopping: bool = False  # a stop reached it: its Interrupted answers that stop
    started: bool = False  # its Started is out (said once, even if it runs twice)


class DashboardStream:
    def __init__(
        self, publish: Callable[[str], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._publish, self._clock = publish, clock
        self._units: deque[Unit] = deque()  # in command order, until their terminal is out
        self._last_stop: float | None = None  # when a stop's Interrupted went out

    def _unit(self, item_id: str) -> Unit | None:
        return next((u for u in self._units if u.item == item_id), None)

    def owns(self, item_id: str) -> bool:
        """Is this queue item a unit of the dashboard's stream (not yet ended)?"""
        unit = self._unit(item_id)
        return unit is not None and unit.terminal is None

    def add(self, item_id: str) -> None:
        """A `segment` command became queue item `item_id`."""
        self._units.append(Unit(item_id))

    def refused(self, text: str) -> None:
        """A `segment` command the service refused: a unit that ends at once with `text`."""
        self._units.append(Unit(None, text))
        self._flush()

    def start(self, item_id: str) -> None:
        """Unit `item_id` began running: `Started`, once (an item that gave way to a
        live acquisition and runs again is not started again)."""
        unit = self._unit(item_id)
        if unit is not None and unit.terminal is None and not unit.started:
            unit.started = True
            self._publish(Status.STARTED)

    def first_open(self) -> str | None:
        """The oldest unit that has not ended (what a legacy stop is about)."""
        return next((u.item for u in self._units if u.terminal is None), None)

    def repeated_stop(self) -> bool:
        """Would a stop now repeat one still being carried out, or one just answered?"""
        if any(u.stopping for u in self._units):
            return True
        return self._last_stop is not None and self._clock() - self._last_stop < REPEAT_WINDOW

    def stopping(self, item_id: str) -> None:
        """A stop reached unit `item_id`: it will end with `Interrupted`."""
        unit = self._unit(item_id)
        if unit is not None and unit.terminal is None:
            unit.stopping = True

    def end(self, item_id: str, terminal: str) -> None:
        """Unit `item_id` ended; `Interrupted` wins if a stop reached it."""
        unit = self._unit(item_id)
        if unit is None or unit.terminal is not None:
            return
        unit.terminal = Status.INTERRUPTED.value if unit.stopping else terminal
        self._flush()

    def idle_stop(self) -> None:
        """A stop with no unit to stop: answered as the old service did."""
        self._publish(Status.INTERRUPTED)
        self._last_stop = self._clock()

    def _flush(self) -> None:
        while self._units and self._units[0].terminal is not None:
            unit = self._units.popleft()
            assert unit.terminal is not None
            self._publish(unit.terminal)
            if unit.stopping:
                self._last_stop = self._clock()
