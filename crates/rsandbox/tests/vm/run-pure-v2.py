#!/usr/bin/env python3
"""Run the `vm_*` tests of tests/limits.rs in a pure-cgroup2 VM.

Usage: run-pure-v2.py KERNEL TEST_BINARY

KERNEL: an uncompressed x86-64 vmlinux with PVH (e.g. Debian's 6.1
`linux-image-*-amd64`, unpacked with `dpkg -x`; the ELF is the xz stream
inside the bzImage: a vmlinuz is extracted first). `scripts/test-vm.sh`
caches one in target/vm-cache.
TEST_BINARY: the built `limits-<hash>` test binary
(`cargo test -p rsandbox --test limits --no-run` prints it).

The VM suite's run `limits:root` alone (suite.py, which scripts/test-vm.sh
drives with the rest of the suite in CI): `qemu-system-x86_64 -M microvm`
(TCG) with `cgroup_no_v1=all`; cgroup2 is the only hierarchy, with memory,
pids and cpu enabled at the root and in an empty `/boxes`; the init moves
itself into `/shell` and runs `TEST_BINARY --ignored --test-threads=1 vm_`
alone in the leaf `/init`, with `RSBX_VM=1`. Exit status: suite.py's (0 when
the tests passed). This driver is what `pure_v2_vm` uses.
"""
import os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    kernel, test_bin = sys.argv[1], sys.argv[2]
    r = subprocess.run([sys.executable, os.path.join(HERE, "suite.py"), "run",
                        "--kernel", kernel, "--test", "limits=" + test_bin,
                        "--only", "limits:root", "--timeout", "600"])
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
