"""`segmenter live PATH`: segment an acquisition while the imager writes it, no MQTT.

The folder is watched (segmenter.live.watch): a frame counts once integrity.check lists
it, or once it ends with the JPEG end marker and has not grown for a second. The run ends
when metadata's acq_nb_frame frames are in, at the first Ctrl-C (finished with the frames
there), or after --idle-timeout seconds without a new frame; it says which. A second
Ctrl-C stops at once (the committed frames are kept: run again to resume).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import FrameType

from segmenter.acquisition import METADATA, resolve_data_root
from segmenter.cli.args import positive_float
from segmenter.cli.bar import TerminalBar
from segmenter.cli.run_options import add_run_options, run_settings
from segmenter.cli.segment import on_signals, print_summaries, say_then
from segmenter.engine import Progress, Segmenter
from segmenter.engine.source import LiveFrames
from segmenter.errors import NotFound, UsageError
from segmenter.live.watch import FolderWatcher

EPILOG = """\
examples:
  segmenter live /home/pi/data/img/2026-03-10/sample1/acq1
  segmenter replay SRC DATA --rate 1 & segmenter live DATA/img/...   (try it without a camera)

The archive is the one `segmenter segment` would write for the same frames.
exit status: 0 done, 1 failed, 2 bad usage, 130 stopped (run again to resume)
"""


def add_live(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "live",
        help="segment an acquisition while it is being imaged",
        description="Segment the acquisition in PATH as its frames are written: the flat "
        "field as soon as its frames are there, then each frame once complete; the "
        "archive at the end.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", type=Path, metavar="PATH", help="the acquisition folder")
    add_run_options(p, cluster_runs=False)
    p.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="finish with the frames there after S seconds without a new one (default: 60)",
    )


@contextmanager
def _ctrl_c(seg: Segmenter, source: LiveFrames, say: Callable[[str], None]) -> Iterator[None]:
    """First Ctrl-C: no more frames; second: stop now; third: exit at once."""
    presses = [0]

    def handler(signum: int, _frame: FrameType | None) -> None:
        presses[0] += 1
        then: Callable[[], object]
        if presses[0] == 1 and signum == signal.SIGINT:
            text = "finishing with the frames there (Ctrl-C again to stop now)"
            then = partial(source.end, "Ctrl-C: no more frames")
        elif presses[0] <= 2:
            text = "stopping: finished frames are kept; run again to resume"
            then = partial(seg.stop, wait=False)
        else:
            raise KeyboardInterrupt
        # never take a lock inside a signal handler (the bar's writes do)
        threading.Thread(target=say_then, args=(say, text, then), daemon=True).start()

    with on_signals(handler):
        yield


class StateLines:
    """Without a terminal: one line on stderr each time the live state changes."""

    def __init__(self) -> None:
        self.state: str | None = None

    def __call__(self, event: Progress) -> None:
        live = event.live
        if live is None or live.state == self.state:
            return
        self.state = live.state
        behind = f", {live.lag} behind" if live.lag else ""
        print(
            f"live: {live.state} ({event.done} of {live.seen} frames segmented{behind})",
            file=sys.stderr,
        )


def cmd_live(args: argparse.Namespace) -> int:
    if args.cluster is not None:
        raise UsageError("--cluster is for `segmenter segment`: a live run uses --workers")
    folder: Path = args.path
    if not (folder / METADATA).is_file():
        raise NotFound(f"{folder} does not exist or has no {METADATA} yet")
    data_root = resolve_data_root(folder, args.data_root)
    settings = run_settings(args)
    source = LiveFrames(
        folder.resolve(),
        FolderWatcher(folder),
        idle_timeout=args.idle_timeout,
        end_at_expected=True,
    )
    bar = TerminalBar([folder])
    show = bar if sys.stderr.isatty() and not args.json else StateLines()
    with bar, Segmenter(args.workers) as seg, _ctrl_c(seg, source, bar.say):
        summary = seg.run_live(source, settings, data_root=data_root, on_progress=show)
    if source.end_reason:
        print(f"live: ended: {source.end_reason}", file=sys.stderr)
    return print_summaries([summary], args.json)
