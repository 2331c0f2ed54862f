"""Command line: `segmenter segment|live|synth|demo|report|ls|export|serve|send|replay|benchmark`.

segment.py  segment, synth, demo
live.py     live: one acquisition segmented while it is imaged
outputs.py  report, ls, export: what a user looks at after an acquisition
service.py  serve (the MQTT service) and send
replay.py   replay: play an acquisition as the imager does (for live mode)
upload.py   upload: archives to EcoTaxa, imported, followed to the end
client.py   the client behind `segmenter send`: one command, followed to its end
args.py     the argument types every command line shares
run_options.py  the options of a run (segment, live) and their RunSettings; qc_options.py
                the QC levels
bar.py      the terminal progress bar
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from segmenter import __version__
from segmenter.cli.args import frame_size, positive_int
from segmenter.cli.live import add_live, cmd_live
from segmenter.cli.outputs import HANDLERS as OUTPUT_HANDLERS
from segmenter.cli.outputs import add_output_commands
from segmenter.cli.replay import HANDLERS as REPLAY_HANDLERS
from segmenter.cli.replay import add_replay_command
from segmenter.cli.segment import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    _add_segment,
    cmd_demo,
    cmd_segment,
    cmd_synth,
)
from segmenter.cli.service import HANDLERS as SERVICE_HANDLERS
from segmenter.cli.service import add_service_commands
from segmenter.cli.upload import HANDLERS as UPLOAD_HANDLERS
from segmenter.cli.upload import add_upload_command
from segmenter.errors import SegmenterError, UsageError
from segmenter.settings import default_workers

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

log = logging.getLogger("segmenter")


DESCRIPTION = """\
Segment PlanktoScope acquisitions: flat-field correct each frame, cut out every
organism, measure it, and write crops plus an EcoTaxa archive.

  segmenter demo                          synthesise a small acquisition and segment it
  segmenter segment DATA/img/2026-03-10   every acquisition below a folder
  segmenter live DATA/img/.../acq1        segment an acquisition while it is being imaged
  segmenter synth OUT --frames 50         write a synthetic acquisition to try things on
  segmenter ls DATA                       the acquisitions and their state (new, partial, done...)
  segmenter report DATA/img/...           mosaic, size spectrum and summary of what was caught
  segmenter export DATA/img/...           rebuild TSV and zip after editing metadata.json
  segmenter serve --data-root DATA        the MQTT service the dashboard drives
  segmenter send segment DATA/img/...     queue work on a running service, follow it
  segmenter replay SRC DATA --rate 1      play an acquisition as the imager does
  segmenter upload DATA/img/... --project 42   send archives to EcoTaxa and import them
  segmenter benchmark --quick             measure this machine (per stage, per worker count)
  sudo segmenter service install          replace the PlanktoScope's segmenter service

Outputs go under the data root (the folder holding img/): objects/<same path>/ for the
crops and TSV, export/ecotaxa/ecotaxa_<acq_id>.zip for EcoTaxa, and done.txt in the
acquisition folder; the report (mosaic, size spectrum, summary) goes beside the zip.
A stopped run (Ctrl-C) keeps every finished frame and resumes.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segmenter",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_segment(sub)
    add_live(sub)
    p = sub.add_parser("synth", help="write a synthetic acquisition (with truth.json)")
    p.add_argument("out", type=Path, metavar="DATA_ROOT", help="data root to write img/... into")
    p.add_argument("--frames", type=positive_int, default=12, help="frames (default: 12)")
    p.add_argument(
        "--objects", type=positive_int, default=8, help="mean objects per frame (default: 8)"
    )
    p.add_argument(
        "--size",
        type=frame_size,
        default=(1352, 1014),
        metavar="WxH",
        help="frame size in pixels (default: 1352x1014)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed: the same seed, the same frames (default: 0)",
    )
    p = sub.add_parser("demo", help="synthesise a small acquisition and segment it")
    p.add_argument("--dir", type=Path, help="data root to use (default: a new temporary folder)")
    p.add_argument("--frames", type=positive_int, default=16, help="frames (default: 16)")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=default_workers(),
        help=f"worker processes (default: {default_workers()})",
    )
    add_output_commands(sub)
    add_service_commands(sub)
    add_replay_command(sub)
    add_upload_command(sub)
    for command in sub.choices.values():  # -v also after the command
        command.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log output"
        )
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):  # send's commands
                for inner in action.choices.values():
                    inner.add_argument(
                        "-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more log output",
                    )  # fmt: skip
    sub.add_parser(
        "benchmark",
        help="measure this machine: per-stage times, throughput per worker count",
        add_help=False,  # its own options: `segmenter benchmark --help`
    )
    sub.add_parser(
        "service",
        help="install, check, upgrade or remove this segmenter as the PlanktoScope's service",
        add_help=False,  # its own options: `segmenter service --help`
    )
    return parser


def benchmark(argv: Sequence[str]) -> int:
    """`segmenter benchmark ARGS`: the benchmark's own command line (benchmark/cli.py)."""
    from benchmark.cli import main as benchmark_main

    return benchmark_main(argv, prog="segmenter benchmark")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "benchmark" in argv and all(a.startswith("-") for a in argv[: argv.index("benchmark")]):
        return benchmark(argv[argv.index("benchmark") + 1 :])
    if "service" in argv and all(a.startswith("-") for a in argv[: argv.index("service")]):
        from segmenter.install.cli import main as service_main

        return service_main(argv[argv.index("service") + 1 :])
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    configured = bool(logging.getLogger().handlers)  # by a caller: left as it is
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose and not configured:  # a failure the summary reports: one line
        for handler in logging.getLogger().handlers:
            handler.addFilter(lambda record: not getattr(record, "in_summary", False))
    commands = {"segment": cmd_segment, "live": cmd_live, "synth": cmd_synth, "demo": cmd_demo}
    commands |= OUTPUT_HANDLERS | SERVICE_HANDLERS | REPLAY_HANDLERS | UPLOAD_HANDLERS
    try:
        return commands[args.command](args)
    except SegmenterError as exc:
        print(f"segmenter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("segmenter: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        print(f"segmenter: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
