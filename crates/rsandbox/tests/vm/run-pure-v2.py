#!/usr/bin/env python3
"""Run the `vm_*` tests of tests/limits.rs in a pure-cgroup2 VM.

Usage: run-pure-v2.py KERNEL TEST_BINARY

KERNEL: an uncompressed x86-64 vmlinux with PVH (e.g. Debian's 6.1
`linux-image-*-amd64`, unpacked with `dpkg -x`; the ELF is the xz stream
inside the bzImage: this script extracts it when given a vmlinuz).
TEST_BINARY: the built `limits-<hash>` test binary
(`cargo test -p rsandbox --test limits --no-run` prints it).

Boots `qemu-system-x86_64 -M microvm` (TCG) with `cgroup_no_v1=all`: cgroup2
is the only hierarchy, with memory, pids and cpu enabled at the root and in
an empty `/boxes`; the init moves itself into `/shell` and runs
`TEST_BINARY --ignored vm_` alone in the leaf `/init`. Exit status: the tests' exit status.

scripts/test-vm.sh (suite.py) runs the same vm_* tests, with the rest of
the suite, in CI; this driver is what `pure_v2_vm` uses.
"""
import gzip, lzma, os, re, shutil, subprocess, sys, tempfile

BINS = ["/usr/bin/sh", "/usr/bin/dash", "/usr/bin/cat", "/usr/bin/cut", "/usr/bin/dd",
        "/usr/bin/sleep", "/usr/bin/true", "/usr/bin/mount", "/usr/bin/mkdir"]


def libs_of(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    for m in re.finditer(r"(/\S+) \(0x", out):
        yield m.group(1)


def cpio(entries):
    """newc archive of (name, mode, data-or-None-for-dir, symlink-target)."""
    buf = bytearray()
    ino = 1
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        data = data or b""
        nm = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0))
        buf += hdr.encode() + nm
        buf += b"\0" * ((4 - len(buf) % 4) % 4)
        buf += data
        buf += b"\0" * ((4 - len(buf) % 4) % 4)
        ino += 1
    return bytes(buf)


INIT = """#!/bin/sh
export PATH=/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t cgroup2 none /sys/fs/cgroup
mount -t tmpfs tmp /tmp
mount -t devtmpfs dev /dev
echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/init /sys/fs/cgroup/boxes /sys/fs/cgroup/shell
echo $$ > /sys/fs/cgroup/shell/cgroup.procs
echo "+memory +pids +cpu" > /sys/fs/cgroup/boxes/cgroup.subtree_control
cd /tmp
# The test process alone in /init, as under `systemd-run --scope`.
RSBX_VM=1 RUST_BACKTRACE=1 /usr/bin/sh -c \
  'echo $$ > /sys/fs/cgroup/init/cgroup.procs; exec /limits --ignored --test-threads=1 vm_'
echo "VM-RC=$?"
sleep 1
echo b > /proc/sysrq-trigger
"""


def main():
    kernel, test_bin = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="rsbx-vm-")
    data = open(kernel, "rb").read()
    if not data.startswith(b"\x7fELF"):
        i = data.find(b"\xfd7zXZ\x00")
        data = lzma.LZMADecompressor().decompress(data[i:])
        kernel = os.path.join(tmp, "vmlinux")
        open(kernel, "wb").write(data)
    files = {}
    for b in BINS + [test_bin]:
        for lib in libs_of(b):
            files[lib] = os.path.realpath(lib)
        files.setdefault("/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2")
    entries, dirs = [], set()

    def add_dir(d):
        if d in ("", "/") or d in dirs:
            return
        add_dir(os.path.dirname(d))
        dirs.add(d)
        entries.append((d.lstrip("/"), 0o40755, None))

    for d in ["/proc", "/sys", "/tmp", "/dev", "/usr/bin", "/usr/lib", "/usr/lib64"]:
        add_dir(d)
    for link, target in [("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")]:
        entries.append((link, 0o120777, target.encode()))
    for b in BINS:
        entries.append((b.lstrip("/"), 0o100755, open(os.path.realpath(b), "rb").read()))
    for dst, src in files.items():
        dst = dst.replace("/lib/", "/usr/lib/", 1) if dst.startswith("/lib/") else dst
        dst = dst.replace("/lib64/", "/usr/lib64/", 1) if dst.startswith("/lib64/") else dst
        add_dir(os.path.dirname(dst))
        entries.append((dst.lstrip("/"), 0o100755, open(src, "rb").read()))
    entries.append(("limits", 0o100755, open(test_bin, "rb").read()))
    entries.append(("init", 0o100755, INIT.encode()))
    initrd = os.path.join(tmp, "initrd.gz")
    with gzip.open(initrd, "wb", compresslevel=1) as f:
        f.write(cpio(entries))
    cmd = ["qemu-system-x86_64", "-M", "microvm", "-m", "1024", "-smp", "2",
           "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append",
           "console=ttyS0 rdinit=/init cgroup_no_v1=all tsc_early_khz=2100000 "
           "reboot=t panic=-1 quiet"]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600)
    shutil.rmtree(tmp)
    out = p.stdout
    print(out)
    m = re.search(r"VM-RC=(\d+)", out)
    if not m:
        print("no VM-RC line; qemu exit status", p.returncode, p.stderr[-2000:])
    sys.exit(int(m.group(1)) if m else 99)


if __name__ == "__main__":
    main()
