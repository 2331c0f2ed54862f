"""The argument types of every command line of this project (the segmenter's and the
benchmark's): one parser for each kind of value, each failing with one clear line."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from segmenter import rules
from segmenter.errors import ConfigError, NotFound
from segmenter.service.broker import parse_broker

if TYPE_CHECKING:
    from segmenter.engine.cluster import ClusterSpec

T = TypeVar("T")


def _by_rule(rule: Callable[[T], T], value: T) -> T:
    """`value` as its rule (segmenter.rules) has it, or argparse's one line."""
    try:
        return rule(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc


def _real(text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc


def workers(text: str) -> int:
    """--workers (rules.workers)."""
    return _by_rule(rules.workers, _whole(text))


def min_esd(text: str) -> float:
    """--min-esd (rules.min_esd_um)."""
    return _by_rule(rules.min_esd_um, _real(text))


def preview_s(text: str) -> float:
    """--preview-every (rules.preview_s)."""
    return _by_rule(rules.preview_s, _real(text))


def qc_focus_min(text: str) -> float:
    """--qc-focus-min (rules.qc_focus_min)."""
    return _by_rule(rules.qc_focus_min, _real(text))


def qc_drift(text: str) -> int:
    """--qc-drift (rules.qc_drift)."""
    return _by_rule(rules.qc_drift, _whole(text))


def qc_static(text: str) -> int:
    """--qc-static (rules.qc_static)."""
    return _by_rule(rules.qc_static, _whole(text))


def qc_frames(text: str) -> int:
    """--qc-frames (rules.qc_frames)."""
    return _by_rule(rules.qc_frames, _whole(text))


def process_id(text: str) -> str:
    """--process-id (rules.process_id)."""
    return _by_rule(rules.process_id, text)


def positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def non_negative_float(text: str) -> float:
    value = _real(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a finite number >= 0")
    return value


def compat(text: str) -> str:
    """An output contract's name (rules.compat), or one line listing the known ones."""
    return _by_rule(rules.compat, text)


def frame_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 4056x3040") from exc
    if not (64 <= w <= 8000 and 64 <= h <= 8000):
        raise argparse.ArgumentTypeError("width and height must be between 64 and 8000")
    return w, h


def broker(text: str) -> str:
    """`HOST`, `HOST:PORT` or `[IPv6]:PORT`, checked; the text is kept for BrokerSettings."""
    try:
        parse_broker(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def cluster(text: str) -> ClusterSpec:
    """`local:N` or a Dask scheduler's address, checked (Dask itself is imported later,
    when the run starts, so that a missing install is one line saying what to do)."""
    from segmenter.engine.cluster import parse_cluster

    try:
        return parse_cluster(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def require_existing(paths: Iterable[Path]) -> None:
    """Every PATH given exists, or a NotFound naming the first that does not."""
    for path in paths:
        if not path.exists():
            raise NotFound(f"{path} does not exist")
