"""Under CI=true a test skipped because something is missing FAILS the run.

Locally a missing optional dependency (``pytest.importorskip``), the shared data
(``../shared/data``), a browser or a server skips with its reason; in CI (the CI
environment sets ``CI=true``; ``.ci/run`` installs everything and CI always has
``../shared`` beside the clone) such a skip would hide a test that never ran, so it
becomes a failure that says what is missing. Skips that say a case does not apply
("mmr accepts a batch of queries") stay skips everywhere.

Loaded by tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import os
import re

import pytest

#: reasons that mean "the environment lacks something", not "this case does not apply"
MISSING = re.compile(
    r"could not import|no module named|not installed|not found|not available|unavailable"
    r"|shared data|\.\./shared|chromium|browser|server|network|offline model|cannot start",
    re.IGNORECASE)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail(report, where: str) -> None:
    reason = _reason(report)
    report.outcome = "failed"
    report.longrepr = (
        f"{where} was skipped under CI=true: {reason}\n"
        "CI must run every test: install what is missing in .ci/run or the pyproject 'dev' "
        "extra (or start the server), and make sure ../shared sits beside the clone. "
        "Locally (CI unset) this stays a skip.")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail") \
            and MISSING.search(_reason(report)):
        _fail(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and MISSING.search(_reason(report)):
        _fail(report, f"the whole module {collector.nodeid}")
