#!/usr/bin/env bash
# The C part of the test suite: the C API built, its header checked for
# drift, the C tests compiled strictly and with ASan/UBSan and run, the
# example run under valgrind, and an install into a temporary prefix used by
# a program built outside the tree with pkg-config.
#
#   scripts/test-c.sh          (as root on Debian 12; ~1 min once the Rust
#                               dependencies are built)
#
# Installs what it needs (gcc, valgrind, pkg-config) with apt-get when
# missing. Changes nothing on the host outside a temporary directory.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
lib_out=$CARGO_TARGET_DIR/debug
work=$(mktemp -d /tmp/sandbox-test-c.XXXXXX)
# Readable by the boxes' unprivileged ids (a strict box's, nobody's runs).
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
step() { # step NAME COMMAND...: run one step, count it
  local name=$1
  shift
  echo "--- $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $name" >&2
  fi
}

# --- tools ------------------------------------------------------------------
missing=()
command -v cc >/dev/null || missing+=(gcc libc6-dev)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if ((${#missing[@]})); then
  echo "--- installing ${missing[*]}"
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; } ||
    { echo "cannot install ${missing[*]}" >&2; exit 1; }
fi

# --- build once, check the header -------------------------------------------
echo "--- cargo build -p rsandbox-ffi"
cargo build -q -p rsandbox-ffi || exit 1
# The generated setters (crates/rsandbox-ffi/src/generated.rs, rendered from
# rsandbox-surface's table, which must account for every builder method of
# the core), then the Rust unit tests of the C API, including
# header_is_up_to_date (cbindgen pinned in Cargo.toml regenerates
# include/sandbox.h and compares).
step "generated setters: drift and coverage" cargo test -q -p rsandbox-surface
step "header drift and Rust-side tests" cargo test -q -p rsandbox-ffi

# The library as a program finds it: libsandbox.so.0 (the soname).
mkdir -p "$work/lib"
cp "$lib_out/libsandbox.so" "$work/lib/libsandbox.so.0"
ln -s libsandbox.so.0 "$work/lib/libsandbox.so"
soname_ok() { readelf -d "$work/lib/libsandbox.so.0" | grep 'SONAME.*\[libsandbox\.so\.0\]' >/dev/null; }
step "soname is libsandbox.so.0" soname_ok

strict=(-std=c11 -Wall -Wextra -Werror -pedantic -g)
link=(-I"$root/include" -L"$work/lib" -lsandbox -Wl,-rpath,"$work/lib")
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# --- the C tests: strict warnings, then ASan/UBSan (LeakSanitizer on) --------
for src in bindings/c/tests/test_*.c; do
  name=$(basename "$src" .c)
  step "compile $name (-Wall -Wextra -Werror -pedantic)" \
    cc "${strict[@]}" "$src" "${link[@]}" -o "$work/$name"
  step "run $name" "$work/$name"
  step "compile $name (ASan/UBSan)" \
    cc "${strict[@]}" "${san[@]}" "$src" "${link[@]}" -o "$work/$name.asan"
  step "run $name (ASan/UBSan/LSan)" "$work/$name.asan"
done

# The tests that need no privilege also pass for an unprivileged user
# (the strict preset then relies on an unprivileged user namespace).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  for name in test_spawn test_errors test_knobs test_services test_devices_ebpf test_egress test_template test_pool; do
    step "run $name as nobody" \
      setpriv --reuid=65534 --regid=65534 --clear-groups "$work/$name"
  done
fi

# --- the example: verdicts, and valgrind ------------------------------------
step "compile judge" cc "${strict[@]}" bindings/c/examples/judge.c "${link[@]}" -o "$work/judge"
step "compile judge (ASan/UBSan)" \
  cc "${strict[@]}" "${san[@]}" bindings/c/examples/judge.c "${link[@]}" -o "$work/judge.asan"
judge_says() { # judge_says WANT ARGS...: the judge's verdict line is WANT
  local want=$1 out
  shift
  out=$("$@" 2>&1)
  echo "$out" | sed 's/^/    /'
  echo "$out" | grep "^verdict: *$want\$" >/dev/null
}
step "judge: exited" judge_says exited "$work/judge.asan" -- /bin/echo hello
step "judge: out of memory" judge_says out_of_memory \
  "$work/judge.asan" -m 16 -t 20000 -- /bin/sh -c 'x=$(head -c 100000000 /dev/zero | tr "\0" a)'
step "judge: wall time limit" judge_says wall_time_limit "$work/judge.asan" -t 300 -- /bin/sleep 30

valgrind_judge() {
  local log=$work/valgrind.log rc
  valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
    --log-file="$log" "$work/judge" -M -S -t 5000 -- /bin/true >"$work/judge.out" 2>&1
  rc=$?
  sed 's/^/    /' "$work/judge.out"
  if [ $rc -eq 99 ] || grep 'definitely lost\|Invalid \(read\|write\|free\)' >/dev/null "$log"; then
    grep -v 'unhandled amd64-linux syscall\|You may be able\|README_MISSING\|Nevertheless\|bug_reports' "$log"
    return 1
  fi
  if [ $rc -eq 0 ]; then
    echo "    valgrind: a whole spawn/wait/free cycle, no definite leak, no memory error"
    return 0
  fi
  echo "    judge under valgrind exited $rc" >&2
  return 1
}
step "judge under valgrind (no definite leak)" valgrind_judge

# --- install into a temporary prefix; build a program outside the tree ------
prefix=$work/prefix
step "install-c.sh into a temporary prefix" env PREFIX="$prefix" PROFILE=debug scripts/install-c.sh
installed_ok() {
  local f
  for f in lib/libsandbox.so lib/libsandbox.so.0 lib/libsandbox.a include/sandbox.h \
    lib/pkgconfig/sandbox.pc; do
    [ -e "$prefix/$f" ] || { echo "missing $prefix/$f" >&2; return 1; }
  done
  [ "$(readlink "$prefix/lib/libsandbox.so")" = libsandbox.so.0 ]
}
step "installed files and soname links" installed_ok
outside() {
  local dir=$work/outside
  mkdir -p "$dir" && cp bindings/c/examples/judge.c "$dir/prog.c" && cd "$dir" || return 1
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  echo "    cc prog.c $(pkg-config --cflags --libs sandbox)"
  # shellcheck disable=SC2046
  cc prog.c $(pkg-config --cflags --libs sandbox) -o prog || return 1
  LD_LIBRARY_PATH=$prefix/lib ldd ./prog | grep "libsandbox.so.0 => $prefix/lib/" >/dev/null || return 1
  LD_LIBRARY_PATH=$prefix/lib ./prog -t 2000 -- /bin/echo built outside | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" -eq 0 ] || return 1
  # The static library, with the system libraries pkg-config lists.
  # shellcheck disable=SC2046
  cc prog.c $(pkg-config --cflags sandbox) "$(pkg-config --variable=libdir sandbox)/libsandbox.a" \
    $(pkg-config --static --libs-only-l sandbox | sed 's/-lsandbox//') -o prog-static || return 1
  ! ldd ./prog-static | grep libsandbox >/dev/null || return 1
  ./prog-static -t 2000 -- /bin/true >/dev/null
}
step "pkg-config: a program built outside the tree (shared and static)" outside

echo "test-c: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
