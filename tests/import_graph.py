"""The host side's import graph, from an ``ast`` walk of the sources (every import, at module level or inside a
function): files per folder, the largest modules, import levels (the longest chain of imports), cycles (groups of
modules that import each other, directly or round about).

``python -m tests.import_graph [PACKAGE ...]`` prints the figures (default: bench device_agents models);
tests/test_import_graph.py holds the packages to no cycles."""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Set, Tuple

REPO = Path(__file__).resolve().parents[1]


def modules(package: str, root: Path = REPO) -> Dict[str, Path]:
    """Dotted module name -> file, for every .py file of ``package`` under ``root``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(current: str, is_package: bool, level: int, module: str) -> str:
    base = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def edges(mods: Dict[str, Path]) -> Dict[str, Set[str]]:
    """Module -> the project modules it imports (``from pkg import name`` counts for ``pkg.name`` when that is a
    module). A module's own parent package is not counted (importing a submodule runs its parents anyway)."""
    out: Dict[str, Set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: List[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module or "") if node.level else (node.module or "")
                targets = [base] + ["%s.%s" % (base, a.name) for a in node.names]
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    out[name].add(target)
    return out


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    out: List[List[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def levels(graph: Dict[str, Set[str]]) -> int:
    """The longest chain of imports (a cycle's modules are counted once on a chain)."""
    memo: Dict[str, int] = {}

    def depth(v: str, path: Tuple[str, ...]) -> int:
        if v in memo:
            return memo[v]
        d = 1 + max((depth(w, path + (v,)) for w in graph[v] if w not in path), default=0)
        memo[v] = d
        return d

    return max((depth(v, ()) for v in graph), default=0)


#: The host side's rooms in dependency order (issue 22): a module may import from its own room and the rooms before
#: it, never from one after it. The order follows the flow plan -> deploy -> run -> store -> analyse -> report, with
#: the exceptions a reader would expect: what is stored (results) and how it is judged (analysis) sit below the
#: runner, which stores and judges each job as it lands, and the commands (cli, lab, perf) sit above everything.
ROOMS: Tuple[Tuple[str, ...], ...] = (
    ("bench", "bench.paths", "bench.fmt", "bench.atomic"),  # the base: standard library only
    ("bench.plan",),
    ("bench.transports",),
    ("bench.results",),
    ("bench.analysis",),
    ("bench.history", "bench.data"),
    ("bench.run",),
    ("bench.report",),
    ("bench.lab", "bench.cli", "bench.perf", "bench.__main__"),
)


def room_of(module: str) -> Tuple[int, str]:
    """(rank, room) of a host module: the longest room name that is the module or a package above it."""
    best = (-1, "")
    for rank, names in enumerate(ROOMS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best[1]):
                best = (rank, name)
    return best


def upward(graph: Dict[str, Set[str]]) -> List[Tuple[str, str]]:
    """Imports from a room into a later one: (importer, imported)."""
    return sorted((m, t) for m, ts in graph.items() if m.startswith("bench")
                  for t in ts if t.startswith("bench") and room_of(t)[0] > room_of(m)[0])


def report(packages: List[str], root: Path = REPO) -> str:
    mods: Dict[str, Path] = {}
    for p in packages:
        mods.update(modules(p, root))
    graph = edges(mods)
    folders = Counter(str(p.parent.relative_to(root)) for p in mods.values())
    sizes = sorted(((len(p.read_text().splitlines()), m) for m, p in mods.items()), reverse=True)[:5]
    found = cycles(graph)
    up = upward(graph)
    return "\n".join([
        "files per folder: " + ", ".join("%s %d" % kv for kv in sorted(folders.items())),
        "largest modules (lines): " + ", ".join("%s %d" % (m, n) for n, m in sizes),
        "modules %d, import arrows %d, import levels %d" % (len(mods), sum(len(v) for v in graph.values()),
                                                            levels(graph)),
        "cycles: %d%s" % (len(found), "".join("\n  " + " <-> ".join(c) for c in found)),
        "imports into a later room: %d%s" % (len(up), "".join("\n  %s -> %s" % mt for mt in up))])


if __name__ == "__main__":
    args = sys.argv[1:]
    root = REPO
    if args and args[0].startswith("--root="):
        root = Path(args.pop(0).split("=", 1)[1]).resolve()
    print(report(args or ["bench", "device_agents", "models"], root))
