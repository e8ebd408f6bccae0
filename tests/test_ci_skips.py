"""The CI guard itself: a skip, in a test or at module level, fails the run under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROBE = """
import pytest

def test_passes():
    assert True

def test_skips():
    pytest.skip("a dependency is missing")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False
"""
MODULE_SKIP = 'import pytest\npytest.skip("no browser", allow_module_level=True)\n'


def run(tmp_path: Path, source: str, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": "true"} if ci else {})
    env["PYTHONPATH"] = str(HERE)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "ci_skips", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_a_skipped_test_fails_under_ci_and_stays_a_skip_locally(tmp_path):
    local = run(tmp_path, PROBE, ci=False)
    assert local.returncode == 0 and "1 passed, 1 skipped, 1 xfailed" in local.stdout, local.stdout
    ci = run(tmp_path, PROBE, ci=True)
    assert ci.returncode == 1 and "1 failed, 1 passed, 1 xfailed" in ci.stdout, ci.stdout
    assert "skipped under CI=true, where nothing may be skipped: a dependency is missing" in ci.stdout


def test_a_skipped_module_fails_under_ci(tmp_path):
    assert run(tmp_path, MODULE_SKIP, ci=False).returncode == 5  # nothing ran: pytest's "no tests"
    ci = run(tmp_path, MODULE_SKIP, ci=True)
    assert ci.returncode == 2 and "skipped under CI=true, where nothing may be skipped: no browser" in ci.stdout
