"""A pytest plugin: under CI=true a skipped test (or module) is a failure.

.ci/run installs every dependency a test can skip for (Chromium, the emoji font, the Inception
weights), so in CI a skip can only mean something broke, and it must not pass quietly.
Locally a skip stays a skip, with its reason.
"""

from __future__ import annotations

import os

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _reason(rep: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = rep.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def _fail(rep: pytest.TestReport | pytest.CollectReport) -> None:
    rep.longrepr = f"skipped under CI=true, where nothing may be skipped: {_reason(rep)}"
    rep.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    if _in_ci() and rep.skipped and not hasattr(rep, "wasxfail"):
        _fail(rep)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    rep = outcome.get_result()
    if _in_ci() and rep.skipped:
        _fail(rep)
