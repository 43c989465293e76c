#!/usr/bin/env python3
"""Generate crates/rsandbox/src/seccomp/tables.rs: syscall name -> number
tables for the seccomp compiler.

Pinned source: the `syscalls` crate at exactly SOURCE_VERSION (crates.io,
checksum checked by cargo), whose per-architecture enums its maintainers
generate from the Linux source tree's syscall `.tbl` files at LINUX_VERSION
(see its CHANGELOG). Nothing of the crate is committed or linked: this
script only reads its `src/arch/*.rs` and writes plain tables.

    python3 scripts/gen-syscall-tables.py          # rewrite tables.rs
    python3 scripts/gen-syscall-tables.py --check  # fail if it would change

The crate flattens the ABI column of the generic table
(scripts/syscall.tbl) that arm64 is built from: it lists the 32-bit-only
entries (numbers 403-423, abi "32") and calls 79 `fstatat`. arm64 builds
the table with the abis common, 64, renameat, rlimit and memfd_secret, so
those numbers are dropped and 79 is `newfstatat`, as in arm64's unistd.h.
As a check, every table is compared with CHECK_CRATE (generated from the
uapi headers of CHECK_LINUX, one release earlier): any difference other
than the syscalls ADDED_SINCE_CHECK lists fails the script.

To move to a newer kernel: bump SOURCE_VERSION / LINUX_VERSION to a release
of the crate that says it carries that kernel's tables, run the script,
review the diff (new syscalls are denied by the default profile until
someone allows them in profile.rs).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

SOURCE_CRATE = "syscalls"
SOURCE_VERSION = "0.8.1"
LINUX_VERSION = "v6.18"

# The cross-check: uapi-header constants, one kernel release earlier.
CHECK_CRATE = "linux-raw-sys"
CHECK_VERSION = "0.12.1"
CHECK_LINUX = "v6.17"
# Syscalls added between CHECK_LINUX and LINUX_VERSION, per architecture.
ADDED_SINCE_CHECK = {"x86_64": {"uprobe": 336}, "aarch64": {}}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates", "rsandbox", "src", "seccomp", "tables.rs")

# Tables the compiler resolves names in, by architecture (crate file name,
# Rust constant, doc line).
TABLES = [
    ("x86_64", "X86_64", "x86_64, 64-bit ABI (x32 numbers are not listed: x32 is killed)."),
    ("aarch64", "AARCH64", "aarch64."),
]


def fetch_crate(crate, version):
    """Have cargo fetch a pinned crate; return (source dir, checksum)."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "Cargo.toml"), "w") as f:
            f.write(
                '[package]\nname = "gen-syscall-tables"\nversion = "0.0.0"\n'
                'edition = "2021"\n[lib]\npath = "lib.rs"\n[dependencies]\n'
                f'{crate} = {{ version = "={version}", '
                "default-features = false }\n"
            )
        open(os.path.join(tmp, "lib.rs"), "w").close()
        subprocess.run(["cargo", "fetch", "-q"], cwd=tmp, check=True)
        meta = json.loads(
            subprocess.run(
                ["cargo", "metadata", "-q", "--format-version", "1"],
                cwd=tmp,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        with open(os.path.join(tmp, "Cargo.lock")) as f:
            lock = f.read()
    pkg = next(
        p
        for p in meta["packages"]
        if p["name"] == crate and p["version"] == version
    )
    m = re.search(
        r'name = "%s"\nversion = "%s"\nsource = "[^"]*"\nchecksum = "([0-9a-f]+)"'
        % (crate, re.escape(version)),
        lock,
    )
    if not m:
        sys.exit("no checksum for the pinned crate in Cargo.lock")
    return os.path.dirname(pkg["manifest_path"]), m.group(1)


ENTRY = re.compile(r"^\s+([a-z_][a-z0-9_]*) = (\d+),$")


def parse_arch(path):
    """(name, number) pairs of one generated `Sysno` enum."""
    out = []
    with open(path) as f:
        for line in f:
            m = ENTRY.match(line)
            if m:
                out.append((m.group(1), int(m.group(2))))
    if not out:
        sys.exit(f"no syscalls parsed from {path}")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        sys.exit(f"duplicate names in {path}")
    return out


def fix_aarch64(rows):
    """arm64's ABI out of the crate's flattened generic table (see above)."""
    out = []
    for name, nr in rows:
        if 403 <= nr <= 423:
            continue  # abi "32": 32-bit architectures only
        if nr == 79:
            name = "newfstatat"  # abi "64" name of 79
        out.append((name, nr))
    return out


def cross_check(arch, rows, check_src):
    """Compare with the uapi headers' __NR_ constants (CHECK_LINUX)."""
    path = os.path.join(check_src, "src", arch, "general.rs")
    with open(path) as f:
        nr = dict(
            (m.group(1), int(m.group(2)))
            for m in re.finditer(r"^pub const __NR_(\w+): u32 = (\d+);$", f.read(), re.M)
        )
    ours = dict(rows)
    extra = {k: v for k, v in ours.items() if nr.get(k) != v}
    missing = {k: v for k, v in nr.items() if ours.get(k) != v}
    if extra != ADDED_SINCE_CHECK[arch] or missing:
        sys.exit(
            f"{arch}: the table differs from {CHECK_CRATE} {CHECK_VERSION} "
            f"({CHECK_LINUX}) beyond {ADDED_SINCE_CHECK[arch]}: "
            f"only here {extra}, only there {missing}"
        )


def render(src, checksum, check_src):
    arch_dir = os.path.join(src, "src", "arch")
    arches = sorted(
        f[:-3]
        for f in os.listdir(arch_dir)
        if f.endswith(".rs") and f not in ("mod.rs", "macros.rs")
    )
    tables = {a: parse_arch(os.path.join(arch_dir, a + ".rs")) for a in arches}
    tables["aarch64"] = fix_aarch64(tables["aarch64"])
    for a, _, _ in TABLES:
        if a not in tables:
            sys.exit(f"the pinned crate has no {a} table")
    for a, _, _ in TABLES:
        cross_check(a, tables[a], check_src)
    ours = set()
    for a, _, _ in TABLES:
        ours.update(n for n, _ in tables[a])
    elsewhere = sorted({n for a in arches for n, _ in tables[a]} - ours)

    lines = [
        "// @generated by scripts/gen-syscall-tables.py: do not edit by hand.",
        "//",
        f"// Source: Linux {LINUX_VERSION} syscall tables (arch/*/.../syscall*.tbl),",
        f"// as carried by the crate {SOURCE_CRATE} {SOURCE_VERSION} from crates.io",
        f"// (sha256 {checksum}), whose src/arch/*.rs its",
        f"// maintainers generate from those .tbl files. Architectures read: {', '.join(arches)}.",
        "// aarch64: the 64-bit ABI of the generic table (numbers 403-423 dropped,",
        "// 79 named newfstatat). Checked against the uapi headers of",
        f"// Linux {CHECK_LINUX} ({CHECK_CRATE} {CHECK_VERSION}) plus the syscalls added since.",
        "",
        "//! Syscall name → number tables for the architectures the filter compiler",
        f"//! supports, current to Linux {LINUX_VERSION} (generated; see the header).",
        "",
        f'/// The kernel release these tables are current to.',
        f'pub(crate) const LINUX_VERSION: &str = "{LINUX_VERSION}";',
        "",
    ]
    for a, const, doc in TABLES:
        rows = sorted(tables[a], key=lambda e: e[1])
        lines.append(f"/// {doc} Sorted by number.")
        lines.append(f"pub(crate) const {const}: &[(&str, i64)] = &[")
        lines.extend(f'    ("{n}", {nr}),' for n, nr in rows)
        lines.append("];")
        lines.append("")
    lines.append(
        "/// Syscalls of the other Linux architectures ("
        + ", ".join(a for a in arches if a not in [t[0] for t in TABLES])
        + "),"
    )
    lines.append(
        "/// which profiles written for many architectures name: skipped like the"
    )
    lines.append("/// other supported architecture's names. Sorted.")
    lines.append("pub(crate) const OTHER_ARCHES: &[&str] = &[")
    lines.extend(f'    "{n}",' for n in elsewhere)
    lines.append("];")
    lines.append("")
    return "\n".join(lines)


def main():
    src, checksum = fetch_crate(SOURCE_CRATE, SOURCE_VERSION)
    check_src, _ = fetch_crate(CHECK_CRATE, CHECK_VERSION)
    text = render(src, checksum, check_src)
    if "--check" in sys.argv[1:]:
        with open(OUT) as f:
            if f.read() != text:
                sys.exit(f"{OUT} is out of date: run scripts/gen-syscall-tables.py")
        print("tables.rs is up to date")
        return
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
