#!/usr/bin/env python3
"""Turn criterion's output into the README's Performance table and a chart.

    scripts/bench-chart.py [CRITERION_DIR] [OUT.svg]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion (or target/criterion);
OUT defaults to docs/bench.svg. Reads every <group>/<bench>/new/estimates.json
(the medians of the last run), prints markdown tables (spawn latency as
ratios to `std::process::Command` measured in the same run; throughput in
sandboxes per second) and the bars of issue 8, and writes a hand-made SVG
(no dependencies): one bar per spawn bench, log scale, ratio to the baseline.
"""
import html
import json
import math
import os
import sys

BASE = "std::process::Command"


def load(root):
    out = {}
    for group in sorted(os.listdir(root)):
        gdir = os.path.join(root, group)
        if not os.path.isdir(gdir) or group == "report":
            continue
        for d in sorted(os.listdir(gdir)):
            meta = os.path.join(gdir, d, "new", "benchmark.json")
            est = os.path.join(gdir, d, "new", "estimates.json")
            if not (os.path.isfile(meta) and os.path.isfile(est)):
                continue
            name = json.load(open(meta))["function_id"]
            e = json.load(open(est))
            out.setdefault(group, {})[name] = (
                e["median"]["point_estimate"],
                os.path.getmtime(est),
            )
    return out


def fmt_time(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} µs"


def svg(rows, path):
    """rows: [(name, ratio, ns)] → horizontal log-scale bars."""
    w, left, right, bar, gap, top = 900, 300, 150, 22, 8, 50
    h = top + len(rows) * (bar + gap) + 40
    hi = max(r for _, r, _ in rows)
    decades = max(1, math.ceil(math.log10(hi)))
    span = w - left - right

    def x(r):
        return left + span * (math.log10(max(r, 1)) / decades)

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
         f'font-family="sans-serif" font-size="13">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{left}" y="24" font-size="15" font-weight="bold">'
         f'Spawn + reap of /bin/true, × {html.escape(BASE)} (median, log scale)</text>']
    for k in range(decades + 1):
        gx = left + span * k / decades
        s.append(f'<line x1="{gx:.1f}" y1="{top - 8}" x2="{gx:.1f}" y2="{h - 30}" '
                 f'stroke="#ddd"/>')
        s.append(f'<text x="{gx:.1f}" y="{h - 14}" text-anchor="middle" fill="#555">'
                 f'{10 ** k}×</text>')
    for i, (name, r, ns) in enumerate(rows):
        y = top + i * (bar + gap)
        color = "#2b7bb9" if name.startswith("rsandbox") else (
            "#888" if name == BASE else "#e08a2c")
        s.append(f'<text x="{left - 8}" y="{y + bar * 0.72:.1f}" text-anchor="end">'
                 f'{html.escape(name)}</text>')
        s.append(f'<rect x="{left}" y="{y}" width="{max(x(r) - left, 2):.1f}" '
                 f'height="{bar}" fill="{color}"/>')
        s.append(f'<text x="{max(x(r), left + 2) + 6:.1f}" y="{y + bar * 0.72:.1f}">'
                 f'{r:.1f}× ({fmt_time(ns)})</text>')
    s.append("</svg>")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


def main():
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "criterion")
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/bench.svg"
    data = load(root)
    spawn = data.get("spawn", {})
    if BASE not in spawn:
        sys.exit(f"no {BASE} baseline under {root}/spawn: run the spawn bench first")
    base = spawn[BASE][0]
    # Stale results from an older run would not be ratios "in one run".
    newest = max(t for _, t in spawn.values())
    rows = []
    print(f"| spawn + reap of `/bin/true` | median | × {BASE} |")
    print("|---|---:|---:|")
    for name, (ns, t) in sorted(spawn.items(), key=lambda kv: kv[1][0]):
        stale = " (older run)" if newest - t > 6 * 3600 else ""
        print(f"| {name}{stale} | {fmt_time(ns)} | {ns / base:.2f} |")
        rows.append((name, ns / base, ns))
    oci = data.get("oci", {})
    crun = next((ns for name, (ns, _) in oci.items() if name.startswith("crun ")), None)
    if oci:
        print("\n| OCI runtime: create + start + wait + delete `/bin/true` | median | × crun |")
        print("|---|---:|---:|")
        for name, (ns, _) in sorted(oci.items(), key=lambda kv: kv[1][0]):
            rel = f"{ns / crun:.2f}" if crun else "–"
            print(f"| {name.split(' ')[0]} | {fmt_time(ns)} | {rel} |")
    tp = data.get("throughput", {})
    if tp:
        print("\n| throughput | sandboxes / s |\n|---|---:|")
        for name, (ns, _) in sorted(tp.items()):
            print(f"| {name} | {1e9 / ns:.0f} |")

    def r(name):
        return spawn[name][0] / base if name in spawn else None

    def ratio(a, b):
        return spawn[a][0] / spawn[b][0] if a in spawn and b in spawn else None

    bars = [
        ("strict ≤ 4× baseline", r("rsandbox strict"), lambda v: v <= 4),
        ("strict without net ≤ 2.5× baseline", r("rsandbox strict no-net"), lambda v: v <= 2.5),
        ("bwrap / strict ≥ 2", ratio("bwrap --unshare-all", "rsandbox strict"), lambda v: v >= 2),
        ("crun / strict ≥ 3", ratio("crun run", "rsandbox strict"), lambda v: v >= 3),
        ("VM boot / strict > 1000", ratio("qemu microvm boot", "rsandbox strict"),
         lambda v: v > 1000),
    ]
    rsb_oci = oci.get("rsandbox-oci create+start+wait+delete", (None,))[0]
    bars.append(("rsandbox-oci / crun < 1 (issue 11)",
                 rsb_oci / crun if rsb_oci and crun else None, lambda v: v < 1))
    print("\n| bar | measured | met |\n|---|---:|---|")
    for what, v, ok in bars:
        if v is None:
            print(f"| {what} | not measured | skipped |")
        else:
            print(f"| {what} | {v:.2f} | {'yes' if ok(v) else '**no**'} |")
    svg(rows, out)
    print(f"\nchart: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
