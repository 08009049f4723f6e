"""The layers of docs/architecture.md, checked over the source: no import runs from a lower app
up into a higher one, and no two files import each other, directly or round a longer cycle.

Every ``import`` counts, also inside functions; imports under ``if TYPE_CHECKING:`` do not (they
name a type, and run nowhere). Migrations are left out: Django writes them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Bottom to top: an app may import from its own layer and the ones before it.
LAYERS = (
    "apps.core",
    "apps.web",
    "apps.live",
    "apps.accounts",
    "apps.datasets",
    "apps.results",
    "apps.jobs",
    "apps.acquisition",
    "apps.portal",
    "libertem_site",
)


def _sources() -> list[Path]:
    files = [p for top in ("apps", "libertem_site") for p in (ROOT / top).rglob("*.py")]
    return sorted(p for p in files if "migrations" not in p.parts)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module or module.name) of every import that runs, relative ones made absolute."""
    package = _module(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    pending: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))


def _layer(module: str) -> int | None:
    for index, app in enumerate(LAYERS):
        if module == app or module.startswith(app + "."):
            return index
    return None


def test_no_import_runs_up_the_layers():
    found = []
    for path in _sources():
        name = str(path.relative_to(ROOT))
        own = _layer(_module(path))
        for line, target in _imports(path):
            layer = _layer(target)
            if own is None or layer is None or layer <= own:
                continue
            found.append(
                f"{name}:{line}: {LAYERS[own]} imports {target} ({LAYERS[layer]} is above)"
            )
    assert not found, "\n".join(found)


def _file_of(module: str) -> str | None:
    """The source file that defines ``module`` (or, for ``package.name``, the package's)."""
    for candidate in (module, module.rpartition(".")[0]):
        base = ROOT / candidate.replace(".", "/")
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate and path.is_file():
                return str(path.relative_to(ROOT))
    return None


def _import_graph() -> dict[str, set[str]]:
    """Each file to the project files it imports."""
    graph: dict[str, set[str]] = {}
    for path in _sources():
        name = str(path.relative_to(ROOT))
        targets = {_file_of(target) for _, target in _imports(path)}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each group of files that reach each other (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = {stack.pop()}
            while node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_round(group, graph) for group in groups]


def _path_round(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the first file of ``group`` (breadth first, inside it)."""
    start = min(group)
    came_from = {start: start}
    queue = [start]
    for node in queue:
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{group} is not a cycle")


def test_no_files_import_each_other():
    cycles = [" -> ".join(cycle) for cycle in _cycles(_import_graph())]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
