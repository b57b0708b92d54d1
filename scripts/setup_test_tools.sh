#!/usr/bin/env bash
# Tools the test suite drives besides Python packages, installed once (idempotent):
#  - Debian's chromium, for the end-to-end test of the labelling page (Playwright drives it with
#    executable_path=/usr/bin/chromium; `playwright install` is never used: it downloads browsers);
#  - Label Studio 1.23.2 in its own virtual environment .venv-labelstudio (it pins many packages of its
#    own), for the Label Studio round-trip test.
# AUTOAL_SKIP_TEST_TOOLS=1 skips both (a machine that only runs autoal).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${AUTOAL_SKIP_TEST_TOOLS:-0}" = "1" ]; then
    echo "autoal setup: AUTOAL_SKIP_TEST_TOOLS=1, not installing chromium and Label Studio"
    exit 0
fi
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        echo "autoal setup: installing Debian's chromium (apt-get)"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
    else
        echo "autoal setup: warning: /usr/bin/chromium is missing and this is not root with apt-get;" \
             "install it (sudo apt-get install chromium) to run the browser test" >&2
    fi
fi
LS_VERSION=1.23.2
if ! .venv-labelstudio/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('label-studio') != '$LS_VERSION')" 2>/dev/null; then
    echo "autoal setup: installing label-studio==$LS_VERSION into .venv-labelstudio (about a minute)"
    "${PYTHON:-python3}" -m venv .venv-labelstudio
    .venv-labelstudio/bin/python -m pip install -q --disable-pip-version-check "label-studio==$LS_VERSION"
fi
echo "autoal setup: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}' || echo missing), label-studio $LS_VERSION in .venv-labelstudio"
