"""`python -m benchmark`: measure the segmenter on this machine, print a table, save JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.report import table
from benchmark.run import run_benchmark
from benchmark.settings import PARTS, QUICK, BenchSettings
from segmenter.cli.args import broker, frame_size, positive_int

DESCRIPTION = """\
Measure the segmenter on this machine, for the same frames in one run: the cv2.imread
floor, per-stage time per frame in one process, the float64 baseline side by side,
flat-field time, throughput for 1..N workers and the --workers to use, a whole 20-frame
`segmenter segment` process against the old method's, peak memory of all processes from
a short to a long acquisition, stop latency, and (with --broker) MQTT end to end.

  segmenter benchmark --quick --json quick.json   about a minute on 2 cores
  segmenter benchmark --json bench.json           the full run (15-20 minutes here)
  segmenter benchmark --memory-workers 3          the full run, peak memory as on a Pi 5
  python -m benchmark --acquisition DATA/img/2026-03-10/S_12/A_1 --workers 4
  python -m benchmark live --rates 1 3            live segmentation of a replayed imager
  python -m benchmark.cluster                     Dask LocalCluster of 2 against the pool of 2

Without --acquisition it synthesises acquisitions (default 4056x3040, 6 and 30 objects
per frame). The targets' verdicts say which figures are comparable with the targets (only
the full run's inputs are: 4056x3040 frames, 400-frame acquisitions, 3 workers for memory).
Everything it writes goes to a temporary work folder, removed at the end.
"""


def build_parser(prog: str = "python -m benchmark") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="fewer, smaller frames, fewer repeats")
    p.add_argument("--acquisition", type=Path, metavar="PATH", help="measure this acquisition")
    p.add_argument("--frames", type=positive_int, metavar="N", help="frames per dataset")
    p.add_argument("--objects", type=float, nargs="+", metavar="K", help="objects per frame (6 30)")
    p.add_argument("--size", type=frame_size, metavar="WxH", help="frame size (4056x3040)")
    p.add_argument("--workers", type=positive_int, metavar="N", help="measure 1..N workers (cores)")
    p.add_argument("--repeats", type=positive_int, metavar="R", help="repeats, median kept (3)")
    p.add_argument(
        "--throughput-frames",
        type=int,
        metavar="N",
        help="frames of the throughput acquisition, the dataset's frames reused (400; 0: as given)",
    )
    p.add_argument(
        "--throughput-repeats", type=positive_int, metavar="R", help="throughput repeats (1)"
    )
    p.add_argument("--baseline-frames", type=positive_int, metavar="N", help="baseline frames (3)")
    p.add_argument(
        "--memory-frames", type=positive_int, nargs=2, metavar=("SHORT", "LONG"), help="(50 400)"
    )
    p.add_argument("--memory-workers", type=positive_int, metavar="N", help="(--workers)")
    p.add_argument("--stops", type=positive_int, metavar="N", help="stops to time (10)")
    p.add_argument("--broker", type=broker, metavar="HOST[:PORT]", help="MQTT end to end")
    p.add_argument(
        "--service-data-root", type=Path, metavar="DIR", help="data root of the running service"
    )
    p.add_argument("--workdir", type=Path, metavar="DIR", help="keep inputs and outputs here")
    p.add_argument("--seed", type=int, default=0, help="synthesis and stop timing seed")
    p.add_argument("--skip", action="append", choices=PARTS, default=[], help="leave a part out")
    p.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    p.add_argument(
        "--targets",
        action="store_true",
        help="also print the project's targets, met or missed (those this run's inputs do "
        "not allow judging marked n/c)",
    )
    return p


def settings_from(args: argparse.Namespace) -> BenchSettings:
    given: dict[str, Any] = {
        "frames": args.frames,
        "objects": tuple(args.objects) if args.objects else None,
        "size": args.size,
        "max_workers": args.workers,
        "repeats": args.repeats,
        "baseline_frames": args.baseline_frames,
        "throughput_frames": args.throughput_frames,
        "throughput_repeats": args.throughput_repeats,
        "memory_frames": tuple(args.memory_frames) if args.memory_frames else None,
        "memory_workers": args.memory_workers,
        "stops": args.stops,
    }
    values = (QUICK if args.quick else {}) | {k: v for k, v in given.items() if v is not None}
    return BenchSettings(
        quick=args.quick,
        acquisition=args.acquisition,
        broker=args.broker,
        service_data_root=args.service_data_root,
        workdir=args.workdir,
        seed=args.seed,
        skip=tuple(args.skip),
        **values,
    )


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmark") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["live"]:  # live segmentation against a replayed imager (benchmark/live.py)
        from benchmark.live import main as live_main

        return live_main(argv[1:], prog=f"{prog} live")
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: folder {args.json.parent} does not exist")
    try:
        report = run_benchmark(settings)
    except KeyboardInterrupt:
        print("benchmark: interrupted", file=sys.stderr)
        return 130
    print(table(report, args.targets))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        print(f"JSON report: {args.json}", file=sys.stderr)
    return 0
