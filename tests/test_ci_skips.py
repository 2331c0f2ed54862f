"""Under CI=true a skip fails the run: a skipped broker, fault or real-data test tested
nothing, and pytest would still exit 0."""

from __future__ import annotations

import pytest

SKIPPING = """
import pytest

def test_needs_a_broker():
    pytest.skip("mosquitto is not installed")

@pytest.mark.skipif(True, reason="no systemd-analyze")
def test_marked():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False
"""


def test_a_skip_fails_the_run_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SKIPPING)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-p", "tests.conftest")
    result.assert_outcomes(failed=1, errors=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*mosquitto is not installed*"])
    assert result.ret != 0


def test_outside_ci_a_skip_is_a_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SKIPPING)
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest("-p", "tests.conftest")
    result.assert_outcomes(skipped=2, xfailed=1)
    assert result.ret == 0


def test_a_module_that_skips_itself_fails_the_run_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pytest.importorskip` at module level skips at collection, before any test runs."""
    pytester.makepyfile(
        'import pytest\npytest.importorskip("no_such_module_here")\n\ndef test_x():\n    pass\n'
    )
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-p", "tests.conftest")
    result.stdout.fnmatch_lines(["*skipped under CI=true*no_such_module_here*"])
    assert result.ret != 0
    monkeypatch.delenv("CI")
    assert pytester.runpytest("-p", "tests.conftest").ret == 5  # outside CI: nothing ran
