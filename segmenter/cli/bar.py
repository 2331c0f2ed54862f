"""The terminal progress display: one tqdm bar per acquisition on stderr, fitted to the
terminal's width (again when it is resized), labelled `k/N sample/acquisition`; its last
state stays on its line, which ends with a newline before anything else is printed.
Silent when stderr is not a terminal (tqdm's own check), and then tqdm is not even
imported (~60 ms of start-up, for a service's or a script's run)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TextIO

from segmenter.engine.events import Progress

if TYPE_CHECKING:
    from tqdm import tqdm

# e.g. `2/3 S_12/A_1  45%|████▌     | 180/400 1.2fr/s ETA 03:03, 1234 objects, flat field`:
# the bar takes the width left (tqdm cuts the line at the terminal's width)
FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {rate_fmt} ETA {remaining}{postfix}"
LABEL = 24  # characters of sample/acquisition shown (the end of longer ones)


def label(path: Path | str, k: int | None = None, n: int | None = None) -> str:
    """`k/N sample/acquisition`: on a PlanktoScope most acquisitions are called A_1."""
    name = "/".join(Path(path).parts[-2:])
    name = name if len(name) <= LABEL else "…" + name[-(LABEL - 1) :]
    return f"{k}/{n} {name}" if k and n and n > 1 else name


def counts(objects: int, failed: int = 0, phase: str = "") -> str:
    """What follows the bar: objects, failed frames, the phase when not frames."""
    parts = [f"{objects} objects"] + ([f"{failed} failed"] if failed else [])
    return ", ".join(parts + ([phase] if phase else []))


class Bars:
    """One bar at a time; a new key (acquisition) closes the previous bar on its line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bar: tqdm[Any] | None = None
        self.key: str | None = None
        self.last = self.postfix = ""

    def show(
        self, key: str, desc: str, *, done: int, total: int, postfix: str, last: str | None = None
    ) -> None:
        """Draw `key`'s bar; `last` is the postfix left when it closes (default: postfix)."""
        if key != self.key:
            self.close()
            self.key = key
            if not _is_terminal(self.stream):
                return
            from tqdm import tqdm  # only for a terminal (see the module's docstring)

            self.bar = tqdm(
                total=total or None, initial=done, desc=desc, unit="fr", file=self.stream,
                dynamic_ncols=True, mininterval=0.1, bar_format=FORMAT, disable=None,
            )  # fmt: skip
        bar = self.bar
        if bar is None or bar.disable:  # not a terminal: nothing is drawn
            return
        self.last = postfix if last is None else last
        if (total or None) != bar.total:
            bar.total = total or None
        changed, self.postfix = postfix != self.postfix, postfix
        bar.set_postfix_str(postfix, refresh=False)
        if done > bar.n:
            bar.update(done - bar.n)
        elif changed:
            bar.refresh()

    def say(self, text: str) -> None:
        """A line above the bar (which is drawn again below it)."""
        if self.bar is None:
            print(text, file=self.stream, flush=True)
            return
        from tqdm import tqdm

        tqdm.write(text, file=self.stream)

    def close(self) -> None:
        """The current bar's last state stays on its line, ended by a newline."""
        if self.bar is not None:
            if not self.bar.disable:
                self.bar.set_postfix_str(self.last, refresh=False)
            self.bar.close()
        self.bar = self.key = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class TerminalBar(Bars):
    """Bars fed by the engine's Progress events; `acquisitions` (in run order) gives k/N."""

    def __init__(self, acquisitions: Sequence[Path] = (), stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.order = {str(p.resolve()): i + 1 for i, p in enumerate(acquisitions)}

    def __call__(self, event: Progress) -> None:
        key = str(event.acquisition)
        phase = {"flat": "flat field", "archive": "archive"}.get(event.phase, "")
        if event.live is not None and event.phase not in ("flat", "archive"):
            lag = f" ({event.live.lag} behind)" if event.live.lag > 1 else ""
            phase = f"live: {event.live.state}{lag}"
        k = self.order.get(str(Path(key).resolve()))
        desc = label(event.acquisition, k, len(self.order))
        postfix = counts(event.objects, event.failed, phase)
        self.show(
            key,
            desc,
            done=event.done,
            total=event.total,
            postfix=postfix,
            last=counts(event.objects, event.failed),
        )


def _is_terminal(stream: TextIO) -> bool:
    """tqdm's own test for `disable=None`."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is None or isatty())
