#!/usr/bin/env python3
"""The core crate's import graph from its own `use crate::` / `super::` paths.

Prints the import circles (strongly connected components of more than one
file), the imports that run up a floor of the layout (README, Layout) and
the imports from one engine into another. With --check, exits 1 when there
is any of them (the test command runs it so).

Usage: python3 scripts/use-graph.py [--check] [SRC_DIR]
"""
import os
import re
import signal
import sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)

CHECK = "--check" in sys.argv[1:]
ARGS = [a for a in sys.argv[1:] if a != "--check"]
SRC = ARGS[0] if ARGS else os.path.join(
    os.path.dirname(__file__), "..", "crates", "rsandbox", "src")


def modules(src):
    """Map module path ('spawn::plan') to file, for every .rs file."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            out["::".join(parts)] = os.path.join(root, f)
    return out


def strip_tests(text):
    """Drop `#[cfg(test)] mod tests { ... }` blocks (test-only imports)."""
    i = text.find("#[cfg(test)]\nmod tests")
    return text if i < 0 else text[:i]


USE = re.compile(r"\buse\s+((?:crate|super|self)(?:::[\w{}, :*]+)?)\s*;", re.S)
PATH = re.compile(r"\b(crate|super)::((?:\w+::)*\w+)")
# `use crate::{a::B, c}`: one level of braces after crate::
GROUP = re.compile(r"\buse crate::\{([^;]*)\};", re.S)


REEXPORT = re.compile(r"^pub use (\w+(?:::\w+)*)::(?:\{([^}]*)\}|(\w+));", re.M)


def lib_reexports(src, mods):
    """Names that lib.rs re-exports (`pub use child::{Child, ...}`), mapped
    to the module that defines them, so `crate::Child` counts as an import
    of `child`."""
    out = {}
    text = open(os.path.join(src, "lib.rs")).read()
    for path, group, single in REEXPORT.findall(text):
        names = [n.strip() for n in (group or single).split(",") if n.strip()]
        segs = path.split("::")
        for n in range(len(segs), 0, -1):
            if "::".join(segs[:n]) in mods:
                for name in names:
                    out[name.split(" as ")[-1].strip()] = "::".join(segs[:n])
                break
    return out


LIB_NAMES = {}


def resolve(mods, here, path):
    """The longest known module prefix of `path`, seen from module `here`."""
    kind, rest = path
    segs = rest.split("::")
    if kind == "crate" and segs[0] in LIB_NAMES:
        return LIB_NAMES[segs[0]]
    if kind == "super":
        base = here.split("::")[:-1] if here else []
        while segs and segs[0] == "super":
            segs, base = segs[1:], base[:-1]
        segs = base + segs
    for n in range(len(segs), 0, -1):
        cand = "::".join(segs[:n])
        if cand in mods:
            return cand
    return None


def graph(src):
    mods = modules(src)
    LIB_NAMES.update(lib_reexports(src, mods))
    edges = {m: set() for m in mods}
    for m, f in mods.items():
        # Comments and doc links are not imports.
        text = re.sub(r"//[^\n]*", "", strip_tests(open(f).read()))
        # `super::` in a mod.rs refers to the parent of the directory module.
        here = m if not f.endswith(("mod.rs", "lib.rs")) else m + "::_"
        found = PATH.findall(text)
        for group in GROUP.findall(text):
            for item in re.split(r",\s*(?![^{]*\})", group):
                item = item.strip().split("::{")[0].strip()
                if item:
                    found.append(("crate", item.replace("{", "").replace("}", "")))
        for kind, rest in found:
            t = resolve(mods, here if kind == "super" else m, (kind, rest))
            if t is not None and t != m and not t.startswith(m + "::") and t != "":
                edges[m].add(t)
    return mods, edges


def sccs(edges):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


# The floors of the target layout, lowest first (a module not named here
# is an engine). An import from a lower floor to a higher one runs up.
FLOORS = [
    ("error",),
    ("sys", "memfd"),
    # netns: a handle to a namespace (error and sys only), held in the description
    ("config", "sandbox", "command", "stdio", "ns", "idmap", "netns", "profile", "preset"),
    ("report",),
    None,  # engines
    ("child",),
    ("spawn",),
    ("run", "logs", "features", "pool", "template"),
]


def floor(m):
    top = m.split("::")[0]
    engines = FLOORS.index(None)
    for i, names in enumerate(FLOORS):
        if names and top in names:
            return i
    return engines


def main():
    mods, edges = graph(SRC)
    # A parent module re-exporting its children is not an upward import.
    for m in edges:
        edges[m] = {t for t in edges[m] if not m == "" }
    circles = [sorted(c) for c in sccs(edges) if len(c) > 1]
    print(f"files: {len(mods)}  imports: {sum(len(e) for e in edges.values())}")
    print(f"import circles: {len(circles)}")
    up = sorted((m, t) for m in edges for t in edges[m] if floor(t) > floor(m))
    engines = FLOORS.index(None)
    sideways = sorted(
        (m, t) for m in edges for t in edges[m]
        if floor(m) == floor(t) == engines and m.split("::")[0] != t.split("::")[0]
    )
    print(f"imports up a floor: {len(up)}")
    for m, t in up:
        print(f"  {m} -> {t}")
    print(f"engine -> other engine: {len(sideways)}")
    for m, t in sideways:
        print(f"  {m} -> {t}")
    for c in sorted(circles, key=len, reverse=True):
        print(f"  {len(c)} files: {' '.join(c)}")
        for m in c:
            inner = sorted(t for t in edges[m] if t in c)
            print(f"    {m} -> {', '.join(inner)}")
    if CHECK and (circles or up or sideways):
        sys.exit("use-graph: the core's imports must run one way (see README, Layout)")


if __name__ == "__main__":
    main()
