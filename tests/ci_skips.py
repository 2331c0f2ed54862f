"""pytest plugin: under CI=true a skipped test fails (loaded by tests/conftest.py).

A skip means a test that tested nothing: the MQTT and fault suites without mosquitto,
the real-frame tests without ../shared, the dashboard tests without the harness. On a
developer's machine that is a skip; in CI it must not pass silently. Expected failures
(xfail) are not skips and stay as they are.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module that skips itself when collected (importorskip) skips all its tests."""
    report = yield
    if os.environ.get("CI") == "true" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where no test may skip: {report.longrepr}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where no test may skip: {_reason(report)}"
    return report
