#!/usr/bin/env bash
# What the test suite needs besides autoal itself (run scripts/setup.sh first), installed once (idempotent):
#  - the test extras in .venv (pytest, Playwright, Ray, ...: pyproject.toml's `test`);
#  - Debian's chromium, for the end-to-end test of the labelling page (Playwright drives it with
#    executable_path=/usr/bin/chromium; `playwright install` is never used: it downloads browsers);
#    installed with apt-get when running as root, else a warning says how;
#  - Label Studio 1.23.2 in its own virtual environment .venv-labelstudio (it pins many packages of its
#    own), for the Label Studio tests.
# Output of pip and apt goes to .venv/setup.log and is shown only when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    echo "autoal setup: .venv is missing; run scripts/setup.sh first" >&2
    exit 1
fi
source scripts/setup_common.sh
# The test environment is the runtime environment plus test tools: every package scripts/setup.sh installed keeps
# its version. pip is held to them with a constraints file (it fails rather than replace one), and the versions are
# compared afterwards; either failure stops this script (and CI) with the packages named.
runtime=$(mktemp) constraints=$(mktemp) after=$(mktemp)
trap 'rm -f "$runtime" "$constraints" "$after"' EXIT
.venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check | sort >"$runtime"
grep -E '^[A-Za-z0-9_.-]+==' "$runtime" >"$constraints" || true
step "test extras (pytest, Playwright, Ray, ...), runtime packages held to their versions" \
    "${PIP[@]}" -c "$constraints" -e ".[test]"
.venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check | sort >"$after"
changed=$(comm -23 "$runtime" "$after")
if [ -n "$changed" ]; then
    echo "autoal setup: failed: installing the test tools changed runtime packages (installed by scripts/setup.sh):" >&2
    echo "$changed" | sed 's/^/  was /' >&2
    echo "  pin them in pyproject.toml so that both resolve the same" >&2
    exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        step "apt-get update" apt-get update -q
        step "Debian's chromium (apt-get, about a minute)" \
            env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
    else
        echo "autoal setup: warning: /usr/bin/chromium is missing and this is not root with apt-get;" \
             "install it (sudo apt-get install chromium) to run the browser test" >&2
    fi
fi
LS_VERSION=1.23.2
if ! .venv-labelstudio/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('label-studio') != '$LS_VERSION')" 2>/dev/null; then
    "${PYTHON:-python3}" -m venv .venv-labelstudio
    step "label-studio==$LS_VERSION into .venv-labelstudio (about a minute)" \
        .venv-labelstudio/bin/python -m pip install --disable-pip-version-check "label-studio==$LS_VERSION"
fi
echo "autoal setup: test tools ready: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}' || echo missing)," \
     "label-studio $LS_VERSION in .venv-labelstudio"
