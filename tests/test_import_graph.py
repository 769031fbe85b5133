"""The dependency graph points one way and has no cycle (issue 17, item 2).

Every ``import`` in ``analytics/``, ``pipelines/`` and ``benchmarks/`` is read with :mod:`ast`
(function-level imports included: a lazy import is still a dependency), and the test asserts:

* ``analytics`` imports neither ``pipelines`` nor ``benchmarks``, nor DuckDB (pure computation);
* ``pipelines`` never imports ``benchmarks``;
* no module imports, directly or through others, a module that imports it back;
* no module reaches for another module's private (``_name``) function or constant, except between
  modules of one sub-package (``analytics.synth.*``): a package's private names are its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("analytics", "pipelines", "benchmarks")

#: Private names borrowed across modules on purpose (none: a borrowed helper is made public instead).
KNOWN_PRIVATE_BORROWS: set[tuple[str, str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to (itself or its nearest package), or None if external."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None, int]]:
    """(imported project module or external top-level name, imported attribute or None, line)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append((_owner(alias.name, modules) or alias.name.split(".")[0], None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in modules:  # ``from pipelines import store``
                    out.append((full, None, node.lineno))
                else:
                    out.append((_owner(base, modules) or base.split(".")[0], alias.name, node.lineno))
    return out


def _private_attribute_uses(path: Path, aliases: dict[str, str]) -> list[tuple[str, str, int]]:
    """``alias._name`` where ``alias`` is an imported project module: (module, name, line)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            out.append((aliases[node.value.id], node.attr, node.lineno))
    return out


def _module_aliases(path: Path, modules: dict[str, Path]) -> dict[str, str]:
    """Local names bound to project modules by ``import x.y as z`` / ``from x import y``."""
    out = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules and alias.asname:
                    out[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in modules:
                    out[alias.asname or alias.name] = full
    return out


MODULES = _modules()
GRAPH = {m: {t for t, _, _ in _imports(m, p, MODULES) if t in MODULES and t != m} for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walk_sees_the_packages():
    # guards the test itself: a walk that found nothing would pass everything below
    assert {"analytics.grid", "pipelines.store", "pipelines.cli", "benchmarks.run"} <= set(MODULES)
    assert "analytics.grid" in GRAPH["pipelines.store"]


@pytest.mark.parametrize("package", ["analytics"])
def test_analytics_never_imports_io_or_pipelines(package):
    bad = [f"{m}:{line} imports {target}" for m, p in MODULES.items() if m.split(".")[0] == package
           for target, _, line in _imports(m, p, MODULES)
           if target.split(".")[0] in ("pipelines", "benchmarks", "duckdb")]
    assert not bad, "analytics/ is pure computation:\n" + "\n".join(bad)


def test_pipelines_never_imports_benchmarks():
    bad = [f"{m}:{line} imports {target}" for m, p in MODULES.items() if m.startswith("pipelines")
           for target, _, line in _imports(m, p, MODULES) if target.split(".")[0] == "benchmarks"]
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles (each list imports itself back):\n" + "\n".join(map(str, cycles))


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _same_subpackage(a: str, b: str) -> bool:
    """Both in one package below the top level (analytics.synth.x and analytics.synth.y, or the
    package analytics.synth itself and its analytics.synth.x)."""
    package = a if (ROOT / Path(*a.split(".")) / "__init__.py").exists() else a.rpartition(".")[0]
    return package.count(".") >= 1 and b.startswith(package + ".")


def test_no_private_names_borrowed_across_modules():
    borrowed = set()
    for m, p in MODULES.items():
        for target, name, _ in _imports(m, p, MODULES):
            if target in MODULES and target != m and name and name.startswith("_") and not name.startswith("__"):
                borrowed.add((m, target, name))
        for target, name, _ in _private_attribute_uses(p, _module_aliases(p, MODULES)):
            if target != m:
                borrowed.add((m, target, name))
    new = sorted(b for b in borrowed - KNOWN_PRIVATE_BORROWS if not _same_subpackage(b[0], b[1]))
    assert not new, "make these public (no leading underscore) or keep them in their module:\n" + \
        "\n".join(f"{m} uses {t}.{n}" for m, t, n in new)
