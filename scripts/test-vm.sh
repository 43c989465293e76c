#!/usr/bin/env bash
# rsandbox's tests on Debian's 6.1 kernel with pure cgroup v2, in a QEMU
# microvm (TCG), as root and as nobody. Issue 10.
#
#   scripts/test-vm.sh [NAME=TEST_BINARY ...]
#
# Without arguments it asks cargo for the test binaries of the rsandbox and
# rsandbox-cli crates (`cargo test --workspace --no-run --message-format=json`:
# nothing is rebuilt when scripts/test.sh built them already) and for the
# `rsandbox` CLI. The checkout may be anywhere (under /tmp, a path with
# spaces, entered through a symlink): the VM carries what the tests run at
# fixed paths of its own (scripts/test-vm-anypath.sh proves it). Needs root
# (or sudo) for apt-get only when qemu-system-x86, busybox-static, gcc (the
# hardening probe is compiled here) are missing. What runs in the VM and what
# is filtered out (with the reason) is printed first: see
# crates/rsandbox/tests/vm/suite.py. Takes ~3 min on an idle 2-core machine
# (TCG), ~5-6 min while other builds load it. The kernel (linux-image-amd64,
# fetched with `apt-get download`, unpacked with `dpkg -x`, never installed)
# is cached in $CARGO_TARGET_DIR/vm-cache (default target/vm-cache).
#
# Environment:
#   CARGO_TARGET_DIR      where cargo builds (default: <repo>/target)
#   RSANDBOX_VM_KERNEL    use this vmlinux/vmlinuz instead of fetching one
#   RSANDBOX_VM_TIMEOUT   time limit of the whole VM run, seconds (default 900: about 250 s are needed on an idle 2-core machine, twice that under load)
#   RSANDBOX_VM_ACCEL     tcg (default) or kvm, only where KVM really works
#   RSANDBOX_VM_ONLY      comma list of runs (core, fs:nobody, ...) to run only those
#   RSANDBOX_VM_CLI       this `rsandbox` binary instead of building one; give the
#                         path cargo built it at (CARGO_BIN_EXE_rsandbox of the CLI tests)
# Exit status: 0 all runs passed, 1 a run failed, 2 no result (boot failure,
# time limit), 3 set-up failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CACHE=$TARGET/vm-cache
SUITE=$ROOT/crates/rsandbox/tests/vm/suite.py
t_start=$SECONDS
say() { echo "test-vm: $*" >&2; }
trap 'rc=$?; [ $rc = 0 ] || [ $rc -le 2 ] || say "set-up failed (exit $rc)"' EXIT

# --- host tools (apt-get; only what is missing)
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
if ! command -v busybox >/dev/null || ldd "$(command -v busybox)" >/dev/null 2>&1; then
  need+=(busybox-static)
fi
command -v setpriv >/dev/null || need+=(util-linux)
command -v cc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3-minimal)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# --- kernel
mkdir -p "$CACHE"
if [ -n "${RSANDBOX_VM_KERNEL:-}" ]; then
  KERNEL=$RSANDBOX_VM_KERNEL
else
  KERNEL=$(python3 "$SUITE" kernel "$CACHE")
fi
say "kernel $KERNEL"

# --- test binaries
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  # --workspace: the same features as scripts/test.sh's build, so nothing
  # is rebuilt; the test targets of the rsandbox and rsandbox-cli crates go
  # into the VM.
  mapfile -t tests < <(cargo test --workspace --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["kind"] == ["test"]
            and m["manifest_path"].endswith(("crates/rsandbox/Cargo.toml",
                                             "crates/rsandbox-cli/Cargo.toml"))):
        print("%s=%s" % (m["target"]["name"], m["executable"]))')
fi
[ ${#tests[@]} -gt 0 ] || { say "no test binaries (cargo test -p rsandbox --no-run failed?)"; exit 3; }
CLI=${RSANDBOX_VM_CLI:-}
[ -n "$CLI" ] || CLI=$(cargo build --workspace --bins --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["name"] == "rsandbox" and m["target"]["kind"] == ["bin"]):
        print(m["executable"])' | tail -1)
[ -x "$CLI" ] || { say "could not build the rsandbox CLI"; exit 3; }
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
say "set-up took $((SECONDS - t_start)) s"

set +e
python3 "$SUITE" run --kernel "$KERNEL" --cli "$CLI" "${args[@]}" \
  --timeout "${RSANDBOX_VM_TIMEOUT:-900}" --only "${RSANDBOX_VM_ONLY:-}" \
  --accel "${RSANDBOX_VM_ACCEL:-tcg}" --json "$CACHE/result.json" --log "$CACHE/console.log"
rc=$?
say "done in $((SECONDS - t_start)) s, exit $rc (console log: $CACHE/console.log, result: $CACHE/result.json)"
exit $rc
