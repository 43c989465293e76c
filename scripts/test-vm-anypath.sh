#!/usr/bin/env bash
# The kernel-matrix VM suite from a checkout at an awkward path (issue 22):
# proof that it depends on no host layout.
#
#   scripts/test-vm-anypath.sh
#
# Copies the working tree (without target/, .venv/, .git/) to
# "/tmp/rsbx-anypath.XXXXXX/check out": under /tmp, which the VM's init
# hides under a fresh tmpfs, and with a space in the path. Builds the
# rsandbox CLI and its tests there, entered through a symlinked directory,
# so the paths compiled into them (CARGO_BIN_EXE_rsandbox,
# CARGO_MANIFEST_DIR) point into that copy; then runs the copy's
# scripts/test-vm.sh for the VM suite's CLI runs (cli:root, cli:nobody).
# They fail when the VM does not carry the CLI to the path its tests were
# compiled with. The copy is removed afterwards.
#
# Cheap on purpose (scripts/test.sh runs it after the full VM suite): one
# crate and its few dependencies built, an initramfs with only the CLI and
# its tests, a boot and the CLI runs; ~1.5 min on an idle 2-core machine.
# The kernel is the one scripts/test-vm.sh cached (fetched if missing).
#
# Environment: CARGO_TARGET_DIR (where this checkout builds: the kernel cache
# is its vm-cache; the copy always builds into its own target/),
# RSANDBOX_VM_KERNEL, RSANDBOX_VM_TIMEOUT, RSANDBOX_VM_ACCEL as for
# scripts/test-vm.sh. Exit status: that of the copy's scripts/test-vm.sh, 3
# when the copy could not be made or built.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
say() { echo "test-vm-anypath: $*" >&2; }
t_start=$SECONDS

kernel=${RSANDBOX_VM_KERNEL:-$(python3 crates/rsandbox/tests/vm/suite.py kernel "$TARGET/vm-cache")}
kernel=$(readlink -f "$kernel") # used from the copy: a relative path would not hold

base=$(mktemp -d /tmp/rsbx-anypath.XXXXXX)
trap 'rm -rf "$base"' EXIT
copy="$base/check out"
mkdir "$copy"
ln -s "check out" "$base/via link"
tar -C "$ROOT" --exclude=./target --exclude=./.venv --exclude=./.git -cf - . | tar -C "$copy" -xf -
say "copy of the tree at '$copy', entered as '$base/via link'"

# Build in the copy, into the copy's own target/ (not this checkout's
# CARGO_TARGET_DIR: the compiled-in paths must point under /tmp).
cd "$base/via link"
unset CARGO_TARGET_DIR
built=$(cargo build -p rsandbox-cli --bins --tests --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        kind, name = m["target"]["kind"], m["target"]["name"]
        if kind == ["bin"] and name == "rsandbox" and not m["profile"]["test"]:
            print("bin=" + m["executable"])
        elif kind == ["test"] and name == "cli":
            print("cli=" + m["executable"])')
cli_bin=$(sed -n 's/^bin=//p' <<<"$built")
cli_test=$(sed -n 's/^cli=//p' <<<"$built")
[ -x "$cli_bin" ] && [ -x "$cli_test" ] || { say "building rsandbox-cli in the copy failed"; exit 3; }
case $cli_bin in
  /tmp/*" "*) ;;
  *) say "the copy's CLI is at '$cli_bin', not under /tmp with a space"; exit 3 ;;
esac
say "built in the copy: $cli_bin, $cli_test ($((SECONDS - t_start)) s)"

set +e
RSANDBOX_VM_KERNEL=$kernel RSANDBOX_VM_ONLY=cli RSANDBOX_VM_CLI=$cli_bin \
  scripts/test-vm.sh "cli=$cli_test"
rc=$?
say "done in $((SECONDS - t_start)) s, exit $rc"
exit $rc
