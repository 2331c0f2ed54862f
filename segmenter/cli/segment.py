"""`segmenter segment`, `synth` and `demo`: validate first, then call the same engine the
service uses; one clear line and an exit code on failure."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from segmenter.acquisition import find_acquisitions, resolve_data_root
from segmenter.cli.args import require_existing
from segmenter.cli.bar import TerminalBar
from segmenter.cli.run_options import add_run_options, run_settings
from segmenter.engine import AcquisitionSummary, Progress, Segmenter
from segmenter.settings import RunSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

SEGMENT_EPILOG = """\
examples:
  segmenter segment /home/pi/data/img/2026-03-10/sample1/acq1
  segmenter segment data/img --workers 3 --json > summary.json
  segmenter segment data/img --cluster local:8          # 8 Dask worker processes here
  segmenter segment /shared/data/img --cluster tcp://head:8786   # a running Dask cluster

A frame that cannot be read (truncated, another size) is skipped and named in the
summary; the rest is archived. Ctrl-C stops after the frames in progress; run the
same command again to resume, or with --force to start over.

exit status: 0 done (or skipped: done.txt exists), 1 an acquisition failed,
2 bad usage (PATH missing), 130 stopped
"""


def _add_segment(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "segment",
        help="segment acquisitions at or below PATH",
        description="Segment every acquisition (folder holding metadata.json) "
        "at or below each PATH.",
        epilog=SEGMENT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="acquisition folders, or folders above them",
    )
    add_run_options(p)
    p.add_argument(
        "--no-recursive",
        dest="recursive",
        action="store_false",
        help="only PATH itself, not the folders below it",
    )


@contextmanager
def _stop_on_signals(seg: Segmenter, say: Callable[[str], None]) -> Iterator[None]:
    """SIGINT/SIGTERM ask for a stop; a second SIGINT exits at once. Restored after."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if seg.stopping and signum == signal.SIGINT:
            raise KeyboardInterrupt
        text = "stopping: finished frames are kept; run again to resume"
        threading.Thread(target=say_then, args=(say, text, seg.stop), daemon=True).start()

    with on_signals(handler):
        yield


def say_then(say: Callable[[str], None], text: str, then: Callable[[], object]) -> None:
    """Off the signal handler (which must take no lock; the bar's writes do): say, act."""
    say(text)
    then()


SignalHandler = Callable[[int, FrameType | None], None]


@contextmanager
def on_signals(handler: SignalHandler) -> Iterator[None]:
    """`handler` for SIGINT and SIGTERM while inside; the previous ones restored after.
    Off the main thread nothing is installed (signals are delivered to it only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def print_summaries(summaries: Sequence[AcquisitionSummary], as_json: bool) -> int:
    ok = all(s.status in ("done", "skipped") for s in summaries)
    interrupted = any(s.status == "interrupted" for s in summaries)
    if as_json:
        print(json.dumps({"ok": ok, "acquisitions": [s.to_json() for s in summaries]}, indent=2))
    for s in summaries:
        print(summary_line(s), file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if ok else EXIT_FAILED


def summary_line(s: AcquisitionSummary) -> str:
    """`status: PATH: what was made (why)`, naming the folder once."""
    message = (s.message or "").replace(s.path + "/", "")
    if s.status == "failed" and not s.frames and not s.objects:
        return f"failed: {s.path}: {message}"
    failed = f", {len(s.failed_frames)} frame(s) failed" if s.failed_frames else ""
    where = f" -> {s.archive}" if s.archive else ""
    made = f"{s.objects} objects so far" if s.status == "interrupted" else (
        f"{s.objects} objects in {s.frames} frames"
    )  # fmt: skip
    detail = f" ({message})" if message else ""
    return f"{s.status}: {s.path}: {made}{failed}{where}{detail}"


def cmd_segment(args: argparse.Namespace) -> int:
    require_existing(args.paths)
    roots: dict[Path, list[Path]] = {}  # PATHs may lie under several data roots
    for path in args.paths:
        roots.setdefault(resolve_data_root(path, args.data_root), []).append(path)
    settings = run_settings(args)
    summaries: list[AcquisitionSummary] = []
    with Segmenter(args.workers, args.cluster) as seg:  # its workers start meanwhile
        folders = [f for p in args.paths for f in find_acquisitions(p, settings.recursive)]
        with (
            TerminalBar(folders) as bar,  # silent when stderr is not a terminal
            _stop_on_signals(seg, bar.say),
        ):
            for data_root, paths in roots.items():
                summaries += seg.run(
                    paths, settings, data_root=data_root, on_progress=_ignore if args.json else bar
                )
                if any(s.status == "interrupted" for s in summaries):
                    break
    return print_summaries(summaries, args.json)


def _ignore(_event: Progress) -> None:
    pass


def cmd_synth(args: argparse.Namespace) -> int:
    from segmenter.synth import SynthSpec, write_acquisition

    spec = SynthSpec(
        frames=args.frames,
        objects=args.objects,
        width=args.size[0],
        height=args.size[1],
        seed=args.seed,
    )
    folder = write_acquisition(args.out, spec)
    print(folder)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from segmenter.synth import SynthSpec, write_acquisition

    root = args.dir or Path(tempfile.mkdtemp(prefix="segmenter-demo-"))
    folder = write_acquisition(root, SynthSpec(frames=args.frames, objects=10, seed=1))
    print(f"synthesised {args.frames} frames in {folder}", file=sys.stderr)
    settings = RunSettings(force=True, keep=True)
    bar = TerminalBar([folder])
    with bar, Segmenter(args.workers) as seg, _stop_on_signals(seg, bar.say):
        summaries = seg.run([folder], settings, data_root=root, on_progress=bar)
    code = print_summaries(summaries, False)
    if code == EXIT_OK and summaries[0].archive:
        archive = Path(summaries[0].archive)
        print(f"EcoTaxa archive: {archive}")
        file_id = archive.stem.removeprefix("ecotaxa_")
        for kind in ("summary", "mosaic", "size_spectrum"):  # beside the zip (report.py)
            for report in sorted(archive.parent.glob(f"{kind}_{file_id}.*")):
                print(f"report: {report}")
    if args.dir is None:
        print(
            f"{root} is a temporary folder (under the system's, which a reboot may clear): "
            "--dir DIR keeps the results where you choose",
            file=sys.stderr,
        )
    return code
