"""The import-graph check of `make lint`: no import circles, and product code never imports
the test tree.

    python -m devstack.import_graph        # exit 1 and one line per problem

Every import counts — at module level, inside functions and under `TYPE_CHECKING` — because
an import moved into a function still ties the two modules together; it only hides the
circle until the call. Rules:
- no circle among the product's modules (`agent`, `sip`, `devstack`, `bench`, `emulators`);
- none of them imports `tests`;
- nothing but the CLI imports the worker (`agent.worker`): calls run through `agent.call`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("agent", "sip", "devstack", "bench", "emulators")
WORKER, WORKER_IMPORTERS = "agent.worker", frozenset({"agent.cli"})


@dataclass
class Graph:
    """Module name → the product modules it imports."""

    edges: dict[str, set[str]] = field(default_factory=dict)

    def cycles(self) -> list[list[str]]:
        """Strongly connected components with more than one module, or a self-import."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []

        def visit(node: str) -> None:  # Tarjan; the graphs here are a few hundred nodes
            index[node] = low[node] = len(index)
            stack.append(node)
            on_stack.add(node)
            for nxt in sorted(self.edges.get(node, ())):
                if nxt not in index:
                    visit(nxt)
                    low[node] = min(low[node], low[nxt])
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1 or node in self.edges.get(node, ()):
                    found.append(sorted(component))

        sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
        for node in sorted(self.edges):
            if node not in index:
                visit(node)
        return sorted(found)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(tree: ast.AST, name: str, is_package: bool) -> Iterator[tuple[str, str | None]]:
    """(module, imported name or None) for every import statement anywhere in the module."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                yield target, alias.name


def build(root: Path, packages: Iterable[str]) -> tuple[Graph, dict[str, set[str]]]:
    """The graph among `packages` under `root`, and each module's imports of anything."""
    files = {module_name(p, root): p for pkg in packages if (root / pkg).is_dir()
             for p in (root / pkg).rglob("*.py")}
    known = set(files)
    graph = Graph({name: set() for name in files})
    raw: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, alias in _imported(tree, name, path.name == "__init__.py"):
            # `from pkg import sub` imports the submodule when there is one.
            resolved = f"{target}.{alias}" if alias and f"{target}.{alias}" in known else target
            raw[name].add(resolved)
            if resolved in known and resolved != name:
                graph.edges[name].add(resolved)
            elif resolved == name:
                graph.edges[name].add(name)
    return graph, raw


def problems(root: Path = ROOT, packages: Iterable[str] = PRODUCT) -> list[str]:
    graph, raw = build(root, packages)
    found = [f"import circle: {' -> '.join(c)}" for c in graph.cycles()]
    for name, targets in sorted(raw.items()):
        for target in sorted(targets):
            if target == "tests" or target.startswith("tests."):
                found.append(f"{name} imports the test tree ({target})")
            if (target == WORKER or target.startswith(WORKER + ".")) \
                    and name not in WORKER_IMPORTERS and name != WORKER:
                found.append(f"{name} imports {WORKER}; only the CLI may (calls go through "
                             "agent.call)")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    if found:
        print(f"import graph: {len(found)} problem(s)", file=sys.stderr)
        return 1
    print("import graph: no circles, no imports of tests, worker imported by the CLI only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
