#!/usr/bin/env python3
"""The layers of src/, checked on the compiled objects.

usage: check_layers.py SRC_README OBJECT...

SRC_README is src/README.md: its table lists the source folders from the
ground up. Each OBJECT is one compiled src/<folder>/<file>.c of the library.
A call is a symbol an object uses that another object defines (`nm`), so
calls through inline functions and macros are not seen; everything else is.
The rules (issue "the house"):
  - no call runs into a folder listed later than the caller's own;
  - no circle of calls between files.
Prints each breach; exits 1 if there is one, 0 otherwise.
"""
import os
import re
import subprocess
import sys


def folder_order(readme):
    order = []
    for line in open(readme, encoding="utf-8"):
        m = re.match(r"\|\s*`([a-z_]+)/`\s*\|", line)
        if m:
            order.append(m.group(1))
    if not order:
        sys.exit(f"{readme}: no table of folders found")
    return order


def source_of(obj):
    """src/<folder>/<file>.c.o -> '<folder>/<file>', or None."""
    m = re.search(r"/src/([a-z_]+/[A-Za-z0-9_]+)\.c\.o$", obj)
    return m.group(1) if m else None


def symbols(obj):
    out = subprocess.run(["nm", obj], check=True, capture_output=True, text=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRVW":
            defined.add(parts[2])
    return defined, used


def find_cycles(graph):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    order = folder_order(sys.argv[1])
    owner, used = {}, {}
    # CMake passes $<TARGET_OBJECTS> as one ;-separated argument.
    objects = [o for arg in sys.argv[2:] for o in arg.split(";") if o]
    for obj in objects:
        src = source_of(obj)
        if src is None:
            continue
        d, u = symbols(obj)
        used[src] = u
        for s in d:
            owner[s] = src
    if not used:
        sys.exit("no objects of src/ given")
    breaches = 0
    graph = {}
    for src, syms in sorted(used.items()):
        folder = src.split("/")[0]
        if folder not in order:
            print(f"{src}: folder {folder}/ is not in the table of src/README.md")
            breaches += 1
            continue
        for s in sorted(syms):
            callee = owner.get(s)
            if callee is None or callee == src:
                continue
            graph.setdefault(src, set()).add(callee)
            cf = callee.split("/")[0]
            if cf in order and order.index(cf) > order.index(folder):
                print(f"up: {src} calls {s} in {callee} (folder {cf}/ is above {folder}/)")
                breaches += 1
    for comp in find_cycles(graph):
        print("circle: " + " <-> ".join(comp))
        breaches += 1
    print(f"{len(used)} files, {sum(len(v) for v in graph.values())} arrows, {breaches} breaches")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
