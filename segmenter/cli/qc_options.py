"""The QC warnings' levels on the command line (segmenter.qc; one rule each in
segmenter.rules)."""

from __future__ import annotations

import argparse
from typing import Any

from segmenter import rules
from segmenter.cli.args import qc_drift, qc_focus_min, qc_frames, qc_static


def add_qc_options(p: argparse.ArgumentParser) -> None:
    """The levels of the QC warnings (segmenter.qc; docs/qc.md)."""
    g = p.add_argument_group(
        "quality-control warnings",
        "said once each in the log, the summary and on MQTT, with the frame where the "
        "condition began (see docs/qc.md)",
    )
    g.add_argument(
        "--qc-focus-min", type=qc_focus_min, default=rules.QC_FOCUS_MIN, metavar="SCORE",
        help="warn when the frame focus score stays below this (0: never) "
        f"(default: {rules.QC_FOCUS_MIN:g})",
    )  # fmt: skip
    g.add_argument(
        "--qc-drift", type=qc_drift, default=rules.QC_DRIFT, metavar="LEVELS",
        help="warn when the raw background moves this many grey levels from the first "
        f"frame's (default: {rules.QC_DRIFT})",
    )  # fmt: skip
    g.add_argument(
        "--qc-static", type=qc_static, default=rules.QC_STATIC, metavar="N",
        help="warn when this many objects per frame do not move between frames "
        f"(debris, bubbles) (default: {rules.QC_STATIC})",
    )  # fmt: skip
    g.add_argument(
        "--qc-frames", type=qc_frames, default=rules.QC_FRAMES, metavar="N",
        help="frames in a row a condition must hold, empty frames included "
        f"(default: {rules.QC_FRAMES})",
    )  # fmt: skip


def qc_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The RunSettings fields of `add_qc_options`' flags."""
    return {
        "qc_focus_min": args.qc_focus_min,
        "qc_drift": args.qc_drift,
        "qc_static": args.qc_static,
        "qc_frames": args.qc_frames,
    }
