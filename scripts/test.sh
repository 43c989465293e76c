#!/usr/bin/env bash
# Runs every test of rsandbox: Rust (core, filesystem, limits, hardening,
# services), C, Python, the kernel matrix in a VM, and last the
# cross-language scenarios (tests/: the command, the C library and the
# Python package built by the steps before). Installs what it needs first.
# Run as root (the tests also run their scenarios as `nobody`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# One clean build: incremental state would only cost disk (~0.7 GB).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
start=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - start ))s)"; }

step setup
scripts/setup.sh
# The whole command needs about 3 GB under target/ (and 1 GB more in a copy
# under /tmp for the any-path run); say what there is, so that a full disk
# is read as such.
df -h "${CARGO_TARGET_DIR:-$PWD}" /tmp | sed 's/^/disk: /'

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The core's floors: no import circle, nothing imported from a floor above.
python3 scripts/use-graph.py --check

step "build"
cargo build --workspace --all-targets --quiet

step "rust tests"
# rsandbox-tests runs last, on what the C and Python steps build.
cargo test --workspace --exclude rsandbox-tests --quiet 2>&1 |
  tee "${CARGO_TARGET_DIR:-target}/rust-tests.log"

step "static builds: the command's and the runtime's tests again on them"
# The two programs as installed (scripts/build-static.sh: glibc linked in).
scripts/build-static.sh
static_dir=$(cd "${CARGO_TARGET_DIR:-target}/static" && pwd)
RSANDBOX_TEST_BIN="$static_dir/rsandbox" cargo test -p rsandbox-cli --test cli --quiet
RSANDBOX_OCI_TEST_BIN="$static_dir/rsandbox-oci" \
    cargo test -p rsandbox-oci --test runtime --test security --quiet

step "kernel matrix: Debian 6.1, pure cgroup v2, QEMU microvm"
scripts/test-vm.sh

step "kernel matrix from a copy of the tree under /tmp (a space in the path, via a symlink)"
scripts/test-vm-anypath.sh

step "C tests"
scripts/test-c.sh

step "Python tests"
scripts/test-python.sh

step "cross-language scenarios: the command, the C library, the Python package, as root and nobody"
RSANDBOX_TEST_PYTHON="${VENV:-$PWD/.venv}/bin/python" cargo test -p rsandbox-tests --quiet
