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

from segmenter import rules
from segmenter.acquisition import find_acquisitions, resolve_data_root
from segmenter.cli.args import cluster, compat, min_esd, process_id, require_existing, workers
from segmenter.cli.bar import TerminalBar
from segmenter.cli.qc_options import add_qc_options, qc_settings
from segmenter.engine import AcquisitionSummary, Progress, Segmenter
from segmenter.settings import RunSettings, default_workers
from streamer import contract

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


def add_run_options(p: argparse.ArgumentParser, *, cluster_runs: bool = True) -> None:
    """The options of a run: where, how many workers, the pipeline's settings, --json.
    Without `cluster_runs` --cluster is not shown, and refused by the command."""
    p.add_argument(
        "--data-root",
        type=Path,
        help="folder holding img/, objects/, export/ "
        "(default: $PLANKTOSCOPE_DATA_PATH, else the folder holding the img/ above PATH)",
    )
    p.add_argument(
        "--workers",
        type=workers,
        default=default_workers(),
        help=f"worker processes; 1 runs in this process (default: {default_workers()})",
    )
    p.add_argument(
        "--cluster",
        type=cluster,
        metavar="ADDRESS",
        help="run on Dask instead of --workers: tcp://HOST:8786 (a running `dask scheduler`; "
        "the data on a filesystem the workers share, at the same path) or local:N "
        "(N worker processes on this machine); needs pip install '.[cluster]'"
        if cluster_runs
        else argparse.SUPPRESS,
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="segment again folders that have done.txt, removing the previous run's crops",
    )
    p.add_argument(
        "--no-ecotaxa",
        dest="ecotaxa",
        action="store_false",
        help="do not write the EcoTaxa zip (the TSV is still written)",
    )
    p.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help="do not write the report (mosaic, size spectrum, summary; see segmenter report)",
    )
    p.add_argument("--keep", action="store_true", help="also write debug images under clean/")
    p.add_argument(
        "--sample-folder",
        action="store_true",
        help="put the zip's files in a folder named after sample_id (EcoTaxa's batch upload)",
    )
    p.add_argument(
        "--min-esd",
        type=min_esd,
        default=rules.MIN_ESD_UM,
        metavar="UM",
        help="smallest equivalent spherical diameter kept, in micrometres "
        f"(pixels when metadata.json has no process_pixel) (default: {rules.MIN_ESD_UM:g})",
    )
    p.add_argument(
        "--remove-previous-mask",
        action="store_true",
        help="ignore what was already dark on the previous frame (stuck objects)",
    )
    p.add_argument(
        "--process-id", type=process_id, help="id written into process_id (default: a new uuid)"
    )
    add_compat_option(p, default=contract.DEFAULT)
    add_same_archive_option(p)
    add_qc_options(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def add_same_archive_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-same-archive",
        action="store_true",
        help="write the archive even when another acquisition's archive has that "
        "name (two folders with one acq_id): the later replaces the other",
    )


def add_compat_option(p: argparse.ArgumentParser, default: str | None) -> None:
    """`--compat`: the output contract (what the archive and the metric payload hold)."""
    shown = default or "the run's own"
    p.add_argument(
        "--compat",
        type=compat,
        default=default,
        metavar="CONTRACT",
        help=f"output contract: {contract.NEW} (today's PlanktoScope: micrometres, bw/bh/"
        f"threshold, focus score, combined ids) or {contract.OLD} (the March 2026 "
        f"segmenter's pixels and names, for continuity) (default: "
        f"{shown})",
    )


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The RunSettings of `add_run_options`' flags (--workers is the engine's:
    `Segmenter(args.workers)`)."""
    return RunSettings(
        force=args.force,
        recursive=getattr(args, "recursive", False),
        ecotaxa=args.ecotaxa,
        keep=args.keep,
        process_id=args.process_id,
        min_esd_um=args.min_esd,
        remove_previous_mask=args.remove_previous_mask,
        report=args.report,
        compat=args.compat,
        sample_folder=args.sample_folder,
        allow_same_archive=args.allow_same_archive,
        **qc_settings(args),
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
