"""scripts/setup_test_tools.sh adds the test tools to the runtime environment without replacing any package
scripts/setup.sh installed, and fails, naming them, when installing them would; the pins make both resolve alike.

The script is run for real, in a copy of the checkout whose ``.venv/bin/python`` is a stand-in that answers
``pip freeze`` from a file and, for ``pip install``, applies the change the test chooses (so no package is
downloaded); the real resolution was checked in a fresh virtual environment (see the report of issue 36).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/bin/sh
# a stand-in for .venv/bin/python: pip freeze reads FREEZE; pip install records its arguments and applies AFTER_INSTALL
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "freeze" ]; then cat "$FREEZE"; exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ]; then
    echo "$@" >> "$INSTALLS"
    if [ -n "$AFTER_INSTALL" ]; then cp "$AFTER_INSTALL" "$FREEZE"; fi
    exit 0
fi
exit 0
"""


def checkout_with_fake_venvs(tmp_path) -> Path:
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "scripts", root / "scripts")
    for venv in (".venv", ".venv-labelstudio"):
        python = root / venv / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text(FAKE_PYTHON)
        python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return root


def run_setup(root, tmp_path, before, after):
    freeze, changed, installs = tmp_path / "freeze.txt", tmp_path / "after.txt", tmp_path / "installs.txt"
    freeze.write_text(before)
    changed.write_text(after)
    env = dict(os.environ, FREEZE=str(freeze), AFTER_INSTALL=str(changed), INSTALLS=str(installs))
    done = subprocess.run(["bash", str(root / "scripts" / "setup_test_tools.sh")], env=env, cwd=root,
                          capture_output=True, text=True, timeout=120)
    return done, installs.read_text() if installs.exists() else ""


RUNTIME = "numpy==2.2.6\ntorch==2.13.0+cpu\nwaitress==3.0.2\n"


def test_the_test_tools_are_installed_with_the_runtime_packages_held_to_their_versions(tmp_path):
    root = checkout_with_fake_venvs(tmp_path)
    done, installs = run_setup(root, tmp_path, RUNTIME, RUNTIME + "pytest==9.2.0\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert " -c " in installs and "-e .[test]" in installs, "pip is given the runtime versions as constraints"


def test_setup_fails_naming_a_runtime_package_the_test_tools_replaced(tmp_path):
    root = checkout_with_fake_venvs(tmp_path)
    done, _ = run_setup(root, tmp_path, RUNTIME.replace("2.2.6", "2.4.6"), RUNTIME + "pytest==9.2.0\n")
    assert done.returncode == 1
    assert "changed runtime packages" in done.stderr and "was numpy==2.4.6" in done.stderr


def test_the_runtime_numpy_pin_satisfies_the_test_tools_opencv():
    """The runtime's numpy range lies inside what the test tools' opencv accepts, so both resolve alike."""
    import tomllib

    runtime = next(Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                   if Requirement(r).name == "numpy")
    try:
        opencv = importlib.metadata.requires("opencv-python-headless") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("opencv-python-headless is not installed (bash scripts/setup_test_tools.sh installs it)")
    wanted = next(Requirement(r) for r in opencv if Requirement(r).name == "numpy"
                  and (Requirement(r).marker is None or Requirement(r).marker.evaluate()))
    candidates = [Version(v) for v in ("2.0.2", "2.1.3", "2.2.6", "2.3.0", "2.3.5", "2.4.6", "2.5.0")]
    allowed = [v for v in candidates if runtime.specifier.contains(v) and v >= Version("2")]
    assert allowed and all(wanted.specifier.contains(v) for v in allowed), (runtime, wanted)
