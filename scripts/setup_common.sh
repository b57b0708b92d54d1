# Sourced by setup.sh and setup_test_tools.sh: run an installation step quietly, showing its output only if it fails.
# Every step's output is appended to .venv/setup.log (AUTOAL_SETUP_LOG), for reading afterwards.
SETUP_LOG=${AUTOAL_SETUP_LOG:-.venv/setup.log}
mkdir -p "$(dirname "$SETUP_LOG")"
PIP=(.venv/bin/python -m pip install --disable-pip-version-check)

# step WHAT COMMAND...: run COMMAND with its output captured; on failure print that output and exit with its status.
step() {
    local what=$1 out status start=$SECONDS
    shift
    printf 'autoal setup: %s ... ' "$what"
    out=$(mktemp)
    if "$@" >"$out" 2>&1; then
        cat "$out" >>"$SETUP_LOG"
        rm -f "$out"
        echo "$((SECONDS - start)) s"
    else
        status=$?
        cat "$out" >>"$SETUP_LOG"
        echo "failed"
        echo "autoal setup: failed (exit $status): $*" >&2
        cat "$out" >&2
        rm -f "$out"
        exit "$status"
    fi
}

# installed MODULE: whether .venv can import MODULE (without importing it).
installed() {
    .venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null
}
