#!/usr/bin/env bash
# Build, install and test the Python package `rsandbox` (crates/rsandbox-py +
# python/rsandbox) in a virtualenv at .venv (created, or reused):
#
#   scripts/test-python.sh              # build, pytest, mypy --strict, stubtest
#   PROFILE=release scripts/test-python.sh
#   scripts/test-python.sh -k asyncio   # extra arguments go to pytest
#
# Works on a fresh Debian 12 machine as root (installs python3-venv when it
# is missing); needs cargo. The tests run sandboxes as root, and one scenario
# as `nobody` (setpriv). Honors CARGO_TARGET_DIR, PYTHON, VENV and PROFILE.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-/usr/bin/python3}
VENV=${VENV:-$ROOT/.venv}
PROFILE=${PROFILE:-dev}

# Pinned tool versions (bump deliberately).
MATURIN=maturin==1.16.0
PYTEST=pytest==9.2.0
PYTEST_TIMEOUT=pytest-timeout==2.4.0
MYPY=mypy==2.4.1

start=$(date +%s)
step() { printf '\n--- %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }

command -v cargo >/dev/null || { echo "test-python: cargo is required (rustup)" >&2; exit 1; }
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        step "installing python3-venv"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    else
        echo "test-python: $PYTHON lacks venv/ensurepip: install python3-venv" >&2
        exit 1
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
PY=$VENV/bin/python

step "installing $MATURIN $PYTEST $PYTEST_TIMEOUT $MYPY"
"$PY" -m pip install -q --disable-pip-version-check "$MATURIN" "$PYTEST" "$PYTEST_TIMEOUT" "$MYPY"

step "generated setters and stubs: drift from rsandbox-surface's table"
cargo run -q -p rsandbox-surface -- --check

step "building and installing rsandbox (maturin develop, profile $PROFILE)"
VIRTUAL_ENV=$VENV "$VENV/bin/maturin" develop -q --profile "$PROFILE"

step "pytest"
"$PY" -m pytest -p no:cacheprovider -q "$@"

step "mypy --strict: the typed example and the package"
"$PY" -m mypy --strict --no-incremental --cache-dir=/dev/null \
    python/examples/typed_example.py python/rsandbox

step "stubtest: the stubs against the compiled module"
"$PY" -m mypy.stubtest --mypy-config-file pyproject.toml rsandbox

step "the typed example runs"
"$PY" python/examples/typed_example.py

step "test-python: all passed"
