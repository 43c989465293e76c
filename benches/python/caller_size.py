"""Strict spawn+reap from a Python caller holding 0, 256 MiB, 1 GiB and
4 GiB of touched heap, beside subprocess.run from the same caller: medians
of N runs each, and the strict box's ratio to its own 0 GiB figure (issue
17's bar: the 4 GiB figure at most 1.2x the 0 GiB one).

    .venv/bin/python benches/python/caller_size.py [N]

(after `bash scripts/test-python.sh` has built the package into .venv; as
root or any user; needs ~5 GiB of free memory). RSANDBOX_NO_VFORK=1 in the
environment measures the copying clone instead.
"""

import statistics
import subprocess
import sys
import time

import rsandbox

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20
MIB = 1 << 20


def median_ms(fn, n=N):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main():
    sb = rsandbox.Sandbox.strict()
    box = lambda: rsandbox.run(["/bin/true"], sandbox=sb, check=True)
    plain = lambda: subprocess.run(["/bin/true"], check=True)
    # The validation and the machinery a process's second spawn starts.
    box()
    box()
    ballast = []
    held = 0
    first = None
    print("| caller's touched heap | subprocess.run | rsandbox strict | × its 0 figure |")
    print("|---|---:|---:|---:|")
    for size in (0, 256 * MIB, 1024 * MIB, 4096 * MIB):
        if size > held:
            # bytearray(b"\1") * n writes every page.
            ballast.append(bytearray(b"\1") * (size - held))
            held = size
        p, b = median_ms(plain), median_ms(box)
        first = first or b
        label = "0" if size == 0 else f"{size // MIB} MiB"
        print(f"| {label} | {p:.2f} ms | {b:.2f} ms | {b / first:.2f} |", flush=True)


if __name__ == "__main__":
    main()
