#!/usr/bin/env bash
# Builds the two programs a user installs, `rsandbox` and `rsandbox-oci`,
# as static-pie executables (glibc linked in, `-C target-feature=+crt-static`)
# into target/static/. A command-line sandbox or OCI runtime is a process
# per command; a static one skips the dynamic loader's work and libgcc_s's
# CPU probing at every start (about 0.4 ms of the 2 ms a start costs on
# this project's 2-vCPU VMs; README "Performance"). The library crates
# (libsandbox.so, the Python extension) stay dynamic: crt-static applies to
# the whole build, so these two binaries get a build of their own, under
# target/<host triple>/ beside the normal one.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
    *-linux-gnu) ;;
    *) echo "build-static.sh: for *-linux-gnu hosts (this is $host)" >&2; exit 2 ;;
esac
target_dir=${CARGO_TARGET_DIR:-target}
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --quiet --target "$host" -p rsandbox-cli -p rsandbox-oci
mkdir -p "$target_dir/static"
for b in rsandbox rsandbox-oci; do
    cp "$target_dir/$host/release/$b" "$target_dir/static/$b"
    # A needed shared library would mean the flag did not reach the link.
    if readelf -d "$target_dir/static/$b" | grep -q NEEDED; then
        echo "build-static.sh: $b is not statically linked" >&2
        exit 1
    fi
done
echo "$target_dir/static/rsandbox $target_dir/static/rsandbox-oci"
