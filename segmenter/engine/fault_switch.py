"""The switch for the test suite's fault injection (worker.tasks): the workers are told
the SEGMENTER_TEST_FAULTS value only after `allow_test_faults()` (tests/conftest.py);
in production the variable is ignored, with a warning."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

FAULTS_ENV = "SEGMENTER_TEST_FAULTS"
_faults_allowed = False
_faults_warned = False


def allow_test_faults() -> None:
    """Honour FAULTS_ENV from now on. Only the test suite calls this."""
    global _faults_allowed
    _faults_allowed = True


def faults_for_workers() -> str | None:
    """The faults to hand to the workers, None outside the test suite."""
    global _faults_warned
    value = os.environ.get(FAULTS_ENV)
    if value and not _faults_allowed:
        if not _faults_warned:
            log.warning("%s is set and ignored: fault injection is for the test suite", FAULTS_ENV)
            _faults_warned = True
        return None
    return value
