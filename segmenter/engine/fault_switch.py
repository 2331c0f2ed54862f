"""The switch for the test suite's fault injection (worker.faults): the workers are
handed the plan of SEGMENTER_TEST_FAULTS only after `allow_test_faults()`
(tests/conftest.py); in production the variable is ignored, with a warning."""

from __future__ import annotations

import logging
import os

from worker.faults import FaultPlan, parse_faults

log = logging.getLogger(__name__)

FAULTS_ENV = "SEGMENTER_TEST_FAULTS"
_faults_allowed = False
_faults_warned = False


def allow_test_faults() -> None:
    """Honour FAULTS_ENV from now on. Only the test suite calls this."""
    global _faults_allowed
    _faults_allowed = True


def faults_for_workers() -> FaultPlan | None:
    """The faults to hand to the workers, parsed once; None outside the test suite."""
    global _faults_warned
    value = os.environ.get(FAULTS_ENV)
    if value and not _faults_allowed:
        if not _faults_warned:
            log.warning("%s is set and ignored: fault injection is for the test suite", FAULTS_ENV)
            _faults_warned = True
        return None
    try:
        return parse_faults(value)
    except ValueError as exc:
        raise ValueError(f"{FAULTS_ENV}: {exc}") from None
