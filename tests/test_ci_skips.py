"""The CI rule of conftest.py: with ``CI`` set, a skip fails the test unless it is about the platform."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SKIPPING_TESTS = '''
import importlib.util

import pytest
from conftest import skip_for_platform


def test_importorskip():
    pytest.importorskip("autoal_no_such_module_xyz")


@pytest.mark.skipif(importlib.util.find_spec("autoal_no_such_module_xyz") is None, reason="pip install xyz")
def test_skipif_marker():
    pass


@pytest.fixture
def needs_tool():
    pytest.skip("the xyz tool is not installed")


def test_skip_in_a_fixture(needs_tool):
    pass


def test_platform_skip():
    skip_for_platform("this file system refuses the names")


@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False


def test_passes():
    pass
'''


def run_pytest(folder, ci):
    """Run pytest on ``folder`` in a subprocess with ``CI`` set to ``ci`` (None: unset); return the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    return done


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text((Path(__file__).parent / "conftest.py").read_text())
    (tmp_path / "test_skipping.py").write_text(SKIPPING_TESTS)
    return tmp_path


@pytest.mark.parametrize("ci", ["1", "true"])
def test_with_ci_set_a_missing_package_fails_and_a_platform_skip_stays_a_skip(folder, ci):
    done = run_pytest(folder, ci)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    failed = set(re.findall(r"^(?:FAILED|ERROR) \S+::(test_\w+)", done.stdout, re.M))  # ERROR: failed in setup
    assert failed == {"test_importorskip", "test_skipif_marker", "test_skip_in_a_fixture"}, done.stdout
    assert re.search(r"^SKIPPED .*this file system refuses the names", done.stdout, re.M), done.stdout
    assert "1 xfailed" in done.stdout and "1 passed" in done.stdout, done.stdout
    assert "could not import 'autoal_no_such_module_xyz'" in done.stdout
    assert "this skip fails because CI is set: every dependency is installed there" in done.stdout


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_without_ci_every_skip_stays_a_skip(folder, ci):
    done = run_pytest(folder, ci)
    assert done.returncode == pytest.ExitCode.OK, done.stdout
    assert re.search(r"\b1 passed, 4 skipped, 1 xfailed\b", done.stdout), done.stdout


def test_with_ci_set_a_module_skipped_at_collection_fails(folder):
    (folder / "test_skipping.py").write_text('import pytest\n\npytest.importorskip("autoal_no_such_module_xyz")\n\n\n'
                                             "def test_never_run():\n    pass\n")
    done = run_pytest(folder, "1")
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout
    assert re.search(r"^ERROR test_skipping.py - Skipped: could not import .*\nthis skip fails because CI is set",
                     done.stdout, re.M), done.stdout
    done = run_pytest(folder, None)
    assert done.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, done.stdout
    assert "collected 0 items / 1 skipped" in done.stdout, done.stdout
