"""The import rules of docs/architecture.md, read from the source of every module of the package.

Every ``import`` and ``from ... import`` counts, including the lazy ones inside functions (a lazy
import is still an arrow: it runs the moment that function does). What is enforced:

- no import cycle between modules, and none between packages (top-level modules count one each);
- every arrow between packages follows the stage order and the "may import" table (``ALLOWED``);
- export and calibration never import each other; nothing imports ``cli`` (except ``__main__``);
- ``runtime`` never imports torch or torchvision at import time, not even through another module
  (the run-time test with torch blocked is tests/runtime/test_pipeline.py);
- no module is over ~400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import edgeclass

SRC = Path(edgeclass.__file__).parent
PACKAGES = ("artifacts", "data", "train", "export", "calibration", "engine", "runtime", "tools", "cli")

# the stage order: a package may import only packages before it (export and calibration share a rank)
RANK = {"top": 0, "artifacts": 1, "data": 2, "train": 3, "export": 4, "calibration": 4, "engine": 5, "runtime": 6, "tools": 7, "cli": 8}
# within that order, what each package may import (docs/architecture.md, "Layers")
ALLOWED: Dict[str, Set[str]] = {
    "top": {"top"},
    "artifacts": {"top"},
    "data": {"top"},
    "train": {"top", "artifacts", "data"},
    "export": {"top", "artifacts", "data", "train"},
    "calibration": {"top", "artifacts", "data"},
    "engine": {"top", "artifacts", "data", "train"},
    "runtime": {"top", "artifacts", "engine", "train"},
    "tools": set(RANK) - {"cli"},
    "cli": set(RANK),
}
HEAVY_FOR_RUNTIME = ("torch", "torchvision")
MAX_LINES = 400
# over the limit until the trainer split of issue 10 lands; remove the entry then
OVER_LIMIT_FOR_NOW: set = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: Dict[str, Path] = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    if module == "edgeclass.__main__":
        return "cli"  # the entry point: python -m edgeclass
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else "top"


def node(module: str) -> str:
    """The package a module belongs to (a top-level module is its own node)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def _imports(tree: ast.AST, module: str, module_level_only: bool) -> Iterator[Tuple[str, int]]:
    """(imported name, line) for every import in ``tree``; edgeclass names resolved to modules."""
    stack: List[ast.AST] = [tree]
    while stack:
        n = stack.pop()
        if module_level_only and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(n, ast.Import):
            for a in n.names:
                yield a.name, n.lineno
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = _package_of(module).split(".")
                base = base[: len(base) - (n.level - 1)]
                target = ".".join(base + ([n.module] if n.module else []))
            else:
                target = n.module or ""
            for a in n.names:
                sub = f"{target}.{a.name}"
                yield (sub if sub in MODULES else target), n.lineno
        stack.extend(ast.iter_child_nodes(n))


def edges(module_level_only: bool = False) -> Dict[str, List[Tuple[str, int]]]:
    """module -> [(imported module or external name, line)]."""
    out = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        out[name] = sorted(set(_imports(tree, name, module_level_only)))
    return out


def internal_edges(module_level_only: bool = False) -> List[Tuple[str, str, int]]:
    return [(a, b, line) for a, targets in edges(module_level_only).items() for b, line in targets if b in MODULES and b != a]


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def where(a: str, b: str, line: int) -> str:
    return f"{MODULES[a].relative_to(SRC.parent)}:{line} imports {b}"


# --------------------------------------------------------------------------------------------


def test_the_walk_sees_lazy_imports_and_resolves_relative_ones():
    """The rules below are only as good as the walk: check it on imports known to be there."""
    found = {(a, b) for a, b, _ in internal_edges()}
    assert ("edgeclass.runtime.backends.tensorrt", "edgeclass.engine.build") in found  # lazy, inside a method
    assert ("edgeclass.runtime.backends.tensorrt", "edgeclass.engine.cuda") in found  # from ...engine import cuda
    assert ("edgeclass.runtime.backends.pytorch", "edgeclass.train.checkpoint") in found  # lazy, in a constructor
    assert ("edgeclass.runtime.backends.tensorrt", "edgeclass.engine.build") not in {(a, b) for a, b, _ in internal_edges(True)}
    assert len(MODULES) > 60 and all(layer(m) in RANK for m in MODULES)


def test_no_import_cycle_between_modules():
    graph: Dict[str, Set[str]] = {}
    for a, b, _ in internal_edges():
        graph.setdefault(a, set()).add(b)
    assert cycles(graph) == []


def test_no_import_cycle_between_packages():
    graph: Dict[str, Set[str]] = {}
    for a, b, _ in internal_edges():
        if node(a) != node(b):
            graph.setdefault(node(a), set()).add(node(b))
    assert cycles(graph) == []


def test_every_arrow_follows_the_stage_order_and_the_table():
    bad = []
    for a, b, line in internal_edges():
        la, lb = layer(a), layer(b)
        if la == lb and la != "top":
            continue  # inside one package
        if lb not in ALLOWED[la] or (la != lb and RANK[lb] > RANK[la]):
            bad.append(f"{where(a, b, line)} ({la} may import {', '.join(sorted(ALLOWED[la]))})")
    assert bad == []


def test_export_and_calibration_never_import_each_other_and_nothing_imports_cli():
    bad = [
        where(a, b, line)
        for a, b, line in internal_edges()
        if {layer(a), layer(b)} == {"export", "calibration"} or (layer(b) == "cli" and layer(a) != "cli")
    ]
    assert bad == []


def test_runtime_never_imports_torch_at_import_time():
    """Module-level imports only (function bodies run later), followed through edgeclass modules."""
    module_level = edges(module_level_only=True)

    def heavy_path(start: str) -> List[str]:
        seen, todo = {start: [start]}, [start]
        while todo:
            m = todo.pop()
            for target, _ in module_level[m]:
                if target.split(".")[0] in HEAVY_FOR_RUNTIME:
                    return seen[m] + [target]
                if target in MODULES and target not in seen:
                    seen[target] = seen[m] + [target]
                    todo.append(target)
        return []

    bad = {m: " -> ".join(p) for m in MODULES if layer(m) == "runtime" for p in [heavy_path(m)] if p}
    assert bad == {}
    assert heavy_path("edgeclass.train.checkpoint")[-1] == "torch"  # the walk does find torch where it is


def test_no_module_is_over_400_lines():
    lines = {str(p.relative_to(SRC)): len(p.read_text(encoding="utf-8").splitlines()) for p in MODULES.values()}
    over = {name for name, n in lines.items() if n > MAX_LINES}
    assert over - OVER_LIMIT_FOR_NOW == set(), {name: lines[name] for name in over}
