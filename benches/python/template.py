"""A Python template against `python3 -c` in a strict box (issue 18's bar: a
fork that computes and prints a result at least 10x faster), with forks in
the template box's namespaces and in namespaces of their own, and the memory
of an idle pooled box and of a forked box (Pss, and what a fork shares with
its template).

    .venv/bin/python benches/python/template.py [N]

(after `bash scripts/test-python.sh` has built the package into .venv; as
root, to read the boxes' smaps). Medians of N runs each, in one run.
"""

import os
import statistics
import sys
import time

import rsandbox

N = int(sys.argv[1]) if len(sys.argv) > 1 else 30

# The work: import json, re and decimal, compute, print one line.
WORK = (
    "print(json.dumps({'sum': str(sum(decimal.Decimal(i) / 7 for i in range(100))),"
    " 'words': re.findall(r'\\w+', 'a b c')}))"
)
IMPORTS = "import decimal, json, re\n"
SERVE = IMPORTS + (
    "import os, sys, time, rsandbox\n"
    "arg = rsandbox.serve_forks()\n"
    "if arg == 1:\n"
    "    time.sleep(60)\n"
    f"{WORK}\n"
    "sys.stdout.flush()\n"
    "os._exit(0)\n"
)


def with_this_python(sb):
    """`sb` with this interpreter's venv and the package bound where they
    are, when they sit under /tmp (which the box's own /tmp hides)."""
    dirs = sorted({sys.prefix, *(p for p in sys.path if p and os.path.isdir(p))})
    under_tmp = [d for d in dirs if d.startswith("/tmp/")]
    for d in [d for d in under_tmp if not any(d.startswith(o + "/") for o in under_tmp)]:
        sb = sb.ro_bind(d, d)
    return sb


def median_ms(fn):
    times = []
    for _ in range(N):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def smaps(pid):
    """Pss and shared/private KiB of one process (smaps_rollup)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                out[k] = int(v.split()[0])
    return out


def children(pid):
    kids = []
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/children") as f:
            kids += [int(p) for p in f.read().split()]
    return kids


def tree(pid):
    out = [pid]
    for k in children(pid):
        out += tree(k)
    return out


def main():
    strict = with_this_python(rsandbox.Sandbox.strict())
    cmd = [sys.executable, "-c", IMPORTS + WORK]
    once = lambda: rsandbox.run(cmd, sandbox=strict, check=True, capture_output=True)
    want = once().stdout
    with strict.template([sys.executable, "-c", SERVE]) as t:

        def fork():
            with t.fork(0, stdout=rsandbox.PIPE) as f:
                assert f.stdout.read() == want
                assert f.wait(timeout=20) == 0

        fork()
        with strict.template([sys.executable, "-c", SERVE], fork_namespaces=True) as tn:

            def fork_ns():
                with tn.fork(0, stdout=rsandbox.PIPE) as f:
                    assert f.stdout.read() == want
                    assert f.wait(timeout=20) == 0

            fork_ns()
            py, forked, forked_ns = median_ms(once), median_ms(fork), median_ms(fork_ns)
        print("| | median | times faster than `python3 -c` |")
        print("|---|---:|---:|")
        print(f"| `python3 -c` (imports json, re, decimal) in a strict box | {py:.2f} ms | 1.0 |")
        print(f"| fork of a strict Python template that imported them | {forked:.2f} ms | {py / forked:.1f} |")
        print(f"| the same, each fork in namespaces of its own (`fork_namespaces=True`) "
              f"| {forked_ns:.2f} ms | {py / forked_ns:.1f} |")
        f = t.fork(1, stdout=rsandbox.DEVNULL)
        time.sleep(0.5)
        # The fork's pid is the box's namespace's: find it here as the
        # last of the template box's tree (its init, the template, the fork).
        *_, tpl_pid, fork_pid = tree(t.pid)
        fm, tm = smaps(fork_pid), smaps(tpl_pid)
        shared = fm.get("Shared_Clean", 0) + fm.get("Shared_Dirty", 0)
        print()
        print(f"template payload: Pss {tm['Pss']} kB, Rss {tm['Rss']} kB")
        print(f"sleeping fork:    Pss {fm['Pss']} kB, Rss {fm['Rss']} kB, shared {shared} kB "
              f"({100 * shared // max(fm['Rss'], 1)} % of its Rss)")
        f.kill()
        f.wait(timeout=20)
        del f
    pool = rsandbox.Sandbox.strict().pool(1)
    deadline = time.time() + 10
    while pool.ready < 1 and time.time() < deadline:
        time.sleep(0.01)
    # The pooled box: this process's child whose tree is an init and the
    # payload held at its gate, both under the init's name (not the
    # network-namespace pool's holders, nor the template box ending).
    comm = lambda p: open(f"/proc/{p}/comm").read().strip()
    boxes = [
        b
        for b in (tree(k) for k in children(os.getpid()) if comm(k) == "rsandbox-init")
        if len(b) == 2 and all(comm(p) == "rsandbox-init" for p in b)
    ]
    assert len(boxes) == 1, [[comm(p) for p in b] for b in boxes]
    pss = [smaps(p)["Pss"] for p in boxes[0]]
    print(f"idle pooled strict box (init and payload at its gate): Pss {sum(pss)} kB "
          f"({' + '.join(map(str, pss))})")
    del pool


if __name__ == "__main__":
    main()
