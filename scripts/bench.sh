#!/usr/bin/env bash
# Reproduce the Performance table of the README.
#
#   scripts/bench.sh            # prepare peers and assets, run every bench
#   scripts/bench.sh --prepare  # only install peers and build the assets
#   scripts/bench.sh --quick    # shorter measurement (noisy; for a smoke run)
#
# Run as root on Linux. It installs the peers it compares against (Debian
# packages bubblewrap, crun, runc, qemu-system-x86, busybox-static) when
# missing, downloads Debian's kernel package with `apt-get download` and
# unpacks it with `dpkg -x` (never installs it), builds an initramfs whose
# /init powers the VM off, and an OCI bundle on a busybox root. The host is
# not changed otherwise: benches create namespaces and cgroups of their own
# only. Peers that cannot be installed are reported as skipped by the bench.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
ASSETS="${RSANDBOX_BENCH_ASSETS:-$TARGET/bench-assets}"
export RSANDBOX_BENCH_ASSETS="$ASSETS"
mkdir -p "$ASSETS"

log() { printf '== %s\n' "$*" >&2; }

install_peers() {
    local want=() p
    command -v bwrap >/dev/null || want+=(bubblewrap)
    command -v crun >/dev/null || want+=(crun)
    command -v runc >/dev/null || want+=(runc)
    command -v qemu-system-x86_64 >/dev/null || want+=(qemu-system-x86)
    command -v unshare >/dev/null || want+=(util-linux)
    [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || want+=(busybox-static)
    if [ ${#want[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            log "installing ${want[*]}"
            DEBIAN_FRONTEND=noninteractive apt-get install -y "${want[@]}" >&2 ||
                log "could not install some peers: their benches will be skipped"
        else
            log "missing ${want[*]} (not root or no apt-get): their benches will be skipped"
        fi
    fi
}

# The OCI bundle: a busybox root and a config for `true` with the same
# namespaces as the strict preset.
make_bundle() {
    local b="$ASSETS/bundle"
    [ -f "$b/config.json" ] && return 0
    command -v busybox >/dev/null || { log "no busybox: no OCI bundle"; return 0; }
    log "building the OCI bundle in $b"
    rm -rf "$b"; mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/tmp"
    cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
    ln -s busybox "$b/rootfs/bin/true"; ln -s busybox "$b/rootfs/bin/sh"
    local spec
    if command -v runc >/dev/null; then spec=runc; elif command -v crun >/dev/null; then spec=crun; else
        log "no OCI runtime: no bundle"; return 0; fi
    (cd "$b" && "$spec" spec)
    python3 - "$b/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"]["readonly"] = True
ns = [{"type": t} for t in ["pid", "network", "ipc", "uts", "mount", "cgroup"]]
c["linux"]["namespaces"] = ns
c["linux"]["resources"] = {"memory": {"limit": 268435456}, "pids": {"limit": 256}}
json.dump(c, open(p, "w"), indent=1)
PY
}

# The VM: Debian's kernel, uncompressed (PVH boot is twice as fast under
# TCG), and an initramfs whose /init powers off at once.
make_vm() {
    [ -f "$ASSETS/vmlinux" ] && [ -f "$ASSETS/initramfs.cpio.gz" ] && return 0
    command -v qemu-system-x86_64 >/dev/null || { log "no qemu: no VM assets"; return 0; }
    local tmp; tmp="$(mktemp -d)"
    log "fetching Debian's kernel package (apt-get download; not installed)"
    local pkg
    pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')"
    if [ -z "$pkg" ] || ! (cd "$tmp" && apt-get download "$pkg" >&2); then
        log "could not download the kernel package: the VM bench will be skipped"
        rm -rf "$tmp"; return 0
    fi
    dpkg -x "$tmp"/linux-image-*.deb "$tmp/k"
    python3 - "$tmp"/k/boot/vmlinuz-* "$ASSETS/vmlinux" <<'PY'
import lzma, sys
data = open(sys.argv[1], "rb").read()
i = data.find(b"\xfd7zXZ\x00")
out = lzma.LZMADecompressor().decompress(data[i:])
assert out.startswith(b"\x7fELF"), "no ELF inside the bzImage"
open(sys.argv[2], "wb").write(out)
PY
    cp "$tmp"/k/boot/vmlinuz-* "$ASSETS/vmlinuz"
    local r="$tmp/initramfs"
    mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev"
    cp "$(command -v busybox)" "$r/bin/busybox"
    printf '#!/bin/busybox sh\n/bin/busybox poweroff -f\n' > "$r/init"
    chmod 755 "$r/init"
    python3 - "$r" "$ASSETS/initramfs.cpio.gz" <<'PY'
import gzip, os, sys
root, out = sys.argv[1], sys.argv[2]
def hdr(name, mode, size, ino):
    f = [ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name) + 1, 0]
    h = b"070701" + b"".join(b"%08X" % v for v in f) + name.encode() + b"\0"
    return h + b"\0" * (-len(h) % 4)
buf, ino = bytearray(), 1
for d, dirs, files in os.walk(root):
    for n in sorted(dirs) + sorted(files):
        p = os.path.join(d, n); rel = os.path.relpath(p, root)
        st = os.lstat(p); data = b"" if os.path.isdir(p) else open(p, "rb").read()
        buf += hdr(rel, st.st_mode, len(data), ino) + data + b"\0" * (-len(data) % 4)
        ino += 1
buf += hdr("TRAILER!!!", 0, 0, 0)
with gzip.open(out, "wb") as f:
    f.write(buf)
PY
    rm -rf "$tmp"
}

install_peers
make_bundle
make_vm
[ "${1:-}" = --prepare ] && exit 0

cd "$ROOT"
# Other work on the machine adds a scheduling delay to every wake-up, and a
# sandbox spawn has more of them than a plain fork+exec: as root, run the
# benches at nice -20 (RSANDBOX_BENCH_NICE=0 to not).
NICE=()
if [ "$(id -u)" = 0 ] && [ "${RSANDBOX_BENCH_NICE:--20}" != 0 ]; then
    NICE=(nice -n "${RSANDBOX_BENCH_NICE:--20}")
fi
ARGS=()
[ "${1:-}" = --quick ] && ARGS+=(--warm-up-time 1 --measurement-time 3)
log "spawn latency (criterion; ratios to std::process::Command in one run)"
"${NICE[@]}" cargo bench -p rsandbox-benches --bench spawn -- "${ARGS[@]}"
log "OCI runtimes: create+start+wait+delete (rsandbox-oci, crun, runc)"
# The runtime as it is installed: the static build (scripts/build-static.sh).
scripts/build-static.sh >/dev/null
RSANDBOX_OCI="$TARGET/static/rsandbox-oci" \
    "${NICE[@]}" cargo bench -p rsandbox-benches --bench oci -- "${ARGS[@]}"
log "egress: added latency per connection, 100 MB download (vs loopback without a box)"
"${NICE[@]}" cargo bench -p rsandbox-benches --bench egress -- "${ARGS[@]}"
log "per-stage breakdown, memory of an idle sandbox"
"${NICE[@]}" cargo bench -p rsandbox-benches --bench report
log "chart and table"
python3 scripts/bench-chart.py "$TARGET/criterion" docs/bench.svg
