"""`segmenter report`, `ls` and `export`: what a user looks at after an acquisition.
None of them segments; each failure is one line, and every PATH is tried."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segmenter.acquisition import find_acquisitions, resolve_data_root
from segmenter.cli.args import process_id, require_existing
from segmenter.cli.run_options import add_compat_option, add_same_archive_option
from segmenter.cli.segment import EXIT_FAILED, EXIT_OK
from segmenter.errors import SegmenterError, UsageError

REPORT_EPILOG = """\
Writes beside the archive, in DATA/export/ecotaxa/:
  mosaic_<acq_id>.jpg         the crops, largest first, each with a scale bar
  size_spectrum_<acq_id>.png  the normalized biovolume size spectrum (NBSS) with its
                              fitted slope, and the ESD histogram (needs matplotlib:
                              pip install '.[report]')
  summary_<acq_id>.json       frames, failed frames, objects, objects per mL (from
                              acq_imaged_volume), ESD quartiles, NBSS slope, flat
                              recalculations, seconds
`segmenter segment` writes it at the end of each acquisition unless --no-report.
"""

LS_EPILOG = """\
states: new (nothing committed), partial (N of M frames committed: `segmenter segment`
resumes it), done (done.txt), failed (with the reason; a new run tries again).
"""

EXPORT_EPILOG = """\
After fixing metadata.json (a typo in sample_id, the imaged volume...), rebuild the TSV
and the EcoTaxa zip from the frames already segmented, in a fraction of the time of a
new segmentation and with the same result. Refused (exit 1) when the journal lacks
frames, the frames changed, the last run did not finish, or process_pixel changed (the
objects kept depend on it): then `segmenter segment` (--force) is what to run.
"""


PATH_HELP = "acquisition folders, or folders above them"


def _root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-root",
        type=Path,
        help="folder holding img/ (default: the one PATH is in, else $PLANKTOSCOPE_DATA_PATH)",
    )


def add_output_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "report",
        help="write the mosaic, size spectrum and summary of segmented acquisitions",
        epilog=REPORT_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help=PATH_HELP)
    _root_arg(p)
    p.add_argument(
        "--mosaic",
        choices=("largest", "by-size"),
        default="largest",
        help="the crops the mosaic shows: the largest first, or by-size: the largest of "
        "each size class in turn, so that small objects are seen too (default: largest)",
    )
    p.add_argument("--json", action="store_true", help="print the summaries on stdout")
    p = sub.add_parser(
        "ls",
        help="list the acquisitions of a data root and their state",
        epilog=LS_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument(
        "path",
        nargs="?",
        type=Path,
        metavar="DATA_ROOT",
        help="a data root or a folder below its img/ (default: $PLANKTOSCOPE_DATA_PATH)",
    )
    _root_arg(p)
    p.add_argument("--json", action="store_true", help="print a JSON list on stdout")
    p = sub.add_parser(
        "export",
        help="rebuild TSV and zip from the segmented frames after metadata.json changed",
        epilog=EXPORT_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help=PATH_HELP)
    _root_arg(p)
    p.add_argument(
        "--process-id", type=process_id, help="id for process_id (default: the run's own)"
    )
    p.add_argument("--no-report", dest="report", action="store_false", help="skip the report")
    add_compat_option(p, default=None)
    p.add_argument(
        "--sample-folder",
        action="store_true",
        help="put the zip's files in a folder named after sample_id (EcoTaxa's batch upload)",
    )
    add_same_archive_option(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def _each(args: argparse.Namespace, action: Callable[[Path, Path], dict[str, Any]]) -> int:
    """`action(folder, data_root)` on every acquisition at or below each PATH; one line
    per failure, the others still done."""
    results: list[dict[str, Any]] = []
    failed = False
    require_existing(args.paths)
    for path in args.paths:
        try:
            root = resolve_data_root(path, args.data_root)
            folders = find_acquisitions(path)
            if not folders:
                raise SegmenterError(f"no acquisition (folder with metadata.json) at {path}")
        except SegmenterError as exc:
            print(f"segmenter: error: {exc}", file=sys.stderr)
            failed = True
            continue
        for folder in folders:
            try:
                results.append(action(folder, root))
            except SegmenterError as exc:
                print(f"segmenter: error: {exc}", file=sys.stderr)
                results.append({"path": str(folder), "error": str(exc)})
                failed = True
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return EXIT_FAILED if failed else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from segmenter.acquisition import load_acquisition
    from segmenter.report import report

    def one(folder: Path, root: Path) -> dict[str, Any]:
        written = report(load_acquisition(folder, root), mosaic_order=args.mosaic)
        files = [written.mosaic, written.size_spectrum, written.summary]
        print("report: " + ", ".join(str(f) for f in files if f), file=sys.stderr)
        return {"path": str(folder), "summary": str(written.summary), **written.figures}

    return _each(args, one)


def cmd_export(args: argparse.Namespace) -> int:
    from segmenter.export import export

    def one(folder: Path, root: Path) -> dict[str, Any]:
        done = export(
            folder,
            root,
            process_id=args.process_id,
            with_report=args.report,
            compat=args.compat,
            sample_folder=args.sample_folder,
            allow_same_archive=args.allow_same_archive,
        )
        print(
            f"exported: {done.path}: {done.objects} objects in {done.seconds:.2f} s "
            f"-> {done.archive}",
            file=sys.stderr,
        )
        return done.to_json()

    return _each(args, one)


def cmd_ls(args: argparse.Namespace) -> int:
    from segmenter.listing import line, list_acquisitions

    path = args.path
    if path is None:
        env = os.environ.get("PLANKTOSCOPE_DATA_PATH")
        if not env:
            raise UsageError("give DATA_ROOT (or set PLANKTOSCOPE_DATA_PATH)")
        path = Path(env)
    require_existing([path])
    items = list_acquisitions(path, resolve_data_root(path, args.data_root))
    if args.json:
        print(json.dumps([i.to_json() for i in items], indent=2, ensure_ascii=False))
    else:
        for item in items:
            print(line(item))
        if not items:
            print(f"no acquisition (folder with metadata.json) below {path}", file=sys.stderr)
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "report": cmd_report,
    "ls": cmd_ls,
    "export": cmd_export,
}
