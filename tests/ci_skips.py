"""The CI rule on skips (hooks imported by conftest.py).

In CI (environment CI=true) a skipped test is a failed test: missing ../shared data, Chromium,
a CJK font or an optional package mean the run did not test what it claims to. Only the skips
in ALLOWED_SKIPS_IN_CI stay skips: tests that cannot run on a CI machine at all (it has no GPU).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Skip reasons (substrings) that stay skips in CI; every other skip fails there.
ALLOWED_SKIPS_IN_CI = ("needs a CUDA GPU",)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)


def fail_skip_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Turn a skip that is not allowed in CI into a failure that says why."""
    if not (in_ci() and report.skipped):
        return
    reason = _skip_reason(report)
    if any(allowed in reason for allowed in ALLOWED_SKIPS_IN_CI):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped with CI=true, which counts as a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    fail_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield  # a module-level skip (pytest.importorskip) is a skipped collection
    fail_skip_in_ci(outcome.get_result())
