#!/usr/bin/env python3
"""Function lengths in Rust sources (test modules excluded), longest first.

A function runs from its `fn` line to the line of its closing brace at the
same indentation. Usage: python3 scripts/fn-lengths.py DIR [MIN_LINES]
"""
import os
import re
import sys

FN = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:unsafe\s+)?(?:extern\s+\"C\"\s+)?fn\s+(\w+)")


def lengths(path):
    lines = open(path).read().split("\n")
    out, in_tests = [], None
    for i, line in enumerate(lines):
        if re.match(r"^\s*mod tests\b", line) and i > 0 and "cfg(test)" in lines[i - 1]:
            break
        m = FN.match(line)
        if not m or line.rstrip().endswith(";"):
            continue
        indent = m.group(1)
        for j in range(i, len(lines)):
            if lines[j] == indent + "}" or (j == i and line.rstrip().endswith("}")):
                out.append((j - i + 1, m.group(2), i + 1))
                break
    return out


def main():
    root = sys.argv[1]
    floor = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    rows = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".rs"):
                p = os.path.join(d, f)
                rows += [(n, name, f"{os.path.relpath(p, root)}:{ln}") for n, name, ln in lengths(p)]
    rows.sort(reverse=True)
    print(f"functions: {len(rows)}  over {floor} lines: {sum(1 for r in rows if r[0] > floor)}")
    for n, name, where in rows:
        if n > floor:
            print(f"{n:5} {name:32} {where}")


if __name__ == "__main__":
    main()
