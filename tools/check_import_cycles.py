#!/usr/bin/env python3
"""Reports import circles between the files of a Rust crate (default: the runtime).

A file's imports are the `crate::`, `super::` and `self::` paths it names outside its test
module, and the relative paths of its `use` lines (one level of `{...}` groups expanded), each resolved to the deepest file the path
reaches. A circle is a set of files that import each other, directly or through others.
Standard library only; exits 1 if it finds one.

    python3 tools/check_import_cycles.py [path/to/crate/src] [--under MODULE] [-v]

`--under kernels` looks only at the files of that module (circles among them); `-v` also
prints every file's imports (the module graph of docs/ARCHITECTURE.md).
"""
import os
import re
import sys


def modules(root):
    """Module path (tuple) -> file, for every .rs file under `root`."""
    files = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            if f.endswith(".rs"):
                parts = os.path.relpath(os.path.join(d, f), root)[:-3].split("/")
                if parts[-1] in ("mod", "lib", "main"):
                    parts = parts[:-1]
                files[tuple(parts)] = os.path.join(d, f)
    return files


def resolve(files, mod, path):
    """The deepest file that `path`, named in module `mod`, reaches."""
    segs = path.split("::")
    if segs[0] == "crate":
        cur, segs = [], segs[1:]
    elif segs[0] == "super":
        cur = list(mod)
        while segs and segs[0] == "super":
            cur, segs = cur[:-1], segs[1:]
    elif segs[0] == "self":
        cur, segs = list(mod), segs[1:]
    else:
        cur = list(mod)
    best = None
    for i in range(len(segs) + 1):
        if tuple(cur + segs[:i]) in files:
            best = tuple(cur + segs[:i])
    return best


def imports(files):
    edges = {}
    for mod, path in files.items():
        src = re.sub(r"//.*", "", open(path).read())
        cut = re.search(r"#\[cfg\(test\)\]\s*(pub(\(crate\))? )?mod tests", src)
        if cut:
            src = src[: cut.start()]
        names = re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", src)
        names += re.findall(r"^(?:pub(?:\(crate\))? )?use (\w+)::", src, re.M)
        # `use a::b::{c, d::e}` names `a::b::c` and `a::b::d::e`.
        for base, group in re.findall(r"\buse\s+([\w:]+)::\{([^{}]*)\}", src):
            names += [base + "::" + item.strip().split(" as ")[0] for item in group.split(",") if item.strip()]
        edges[mod] = {
            t for n in names if n not in ("std", "core", "alloc", "crate", "super", "self") for t in [resolve(files, mod, n)] if t and t != mod
        }
    return edges


def circles(edges):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    under = ()
    if "--under" in args:
        i = args.index("--under")
        under = tuple(args[i + 1].split("::"))
        del args[i : i + 2]
    root = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "mobilenet-runtime", "src")
    edges = imports(modules(root))
    inside = lambda m: m[: len(under)] == under
    edges = {m: {t for t in ts if inside(t)} for m, ts in edges.items() if inside(m)}
    name = lambda m: "::".join(m) or "crate"
    if "-v" in sys.argv:
        for m in sorted(edges):
            print(name(m), "->", ", ".join(sorted(name(t) for t in edges[m])))
    found = circles(edges)
    for comp in found:
        print("circle:", ", ".join(sorted(name(m) for m in comp)))
        for a in comp:
            for b in sorted(edges[a]):
                if b in comp:
                    print("   ", name(a), "->", name(b))
    print(f"{len(found)} import circle(s) in {root}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
