"""The options of a run on the command line (`segment`, `live`; `--compat` and
`--allow-same-archive` also for `serve`, `send` and `export`), and the RunSettings they
make. Each value is checked by its rule (cli/args.py, segmenter.rules)."""

from __future__ import annotations

import argparse
from pathlib import Path

from segmenter import rules
from segmenter.cli.args import cluster, compat, min_esd, process_id, workers
from segmenter.cli.qc_options import add_qc_options, qc_settings
from segmenter.settings import RunSettings, default_workers
from streamer import contract


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
