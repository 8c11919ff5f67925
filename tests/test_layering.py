"""The integration's modules form layers: no import cycles, and the hub knows camera kinds only
through their interface (adding a kind needs no edit of the hub)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent / "custom_components" / "homesec_nvr"
PACKAGE = "custom_components.homesec_nvr"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """The modules of the integration an import statement names (relative or absolute)."""
    if node.level:
        package = module.split(".")
        if path.name != "__init__.py":
            package.pop()
        base = package[: len(package) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith(PACKAGE):
        return []
    # `from . import x` may name a submodule: count both the package and the submodule.
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def _import_graph() -> dict[str, set[str]]:
    """Every import between the integration's modules, TYPE_CHECKING ones included."""
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for module, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(module, path, node)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith(PACKAGE)]
            graph[module] |= {t for t in targets if t in files and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle once (depth-first search for back edges)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                found.append([*path[path.index(child) :], child])
            elif child not in state:
                visit(child)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_integration_has_no_import_cycle() -> None:
    # Given the import graph of every module of the integration
    graph = _import_graph()

    # When looking for cycles
    cycles = _cycles(graph)

    # Then there are none (and the scan saw the layers it should)
    assert f"{PACKAGE}.hub" in graph[f"{PACKAGE}.sensor"]
    assert f"{PACKAGE}.cameras" in graph[f"{PACKAGE}.hub"]
    assert cycles == []


def test_the_hub_knows_camera_kinds_only_by_their_interface() -> None:
    # Given the hub's imports and code
    graph = _import_graph()
    hub_code = (ROOT / "hub.py").read_text(encoding="utf-8")
    kinds = {name for name in graph if name.startswith(f"{PACKAGE}.cameras.")} - {
        f"{PACKAGE}.cameras.base"
    }

    # When checking what it names
    imported_kinds = graph[f"{PACKAGE}.hub"] & kinds
    kind_names = ("SUBENTRY_", "FrigateCameras", "RtspCameras", "LocalFolderCameras")
    source_names = ("FrigateSource", "RtspSource", "LocalFolderSource", "FrigateServer")
    named_types = [word for word in (*kind_names, *source_names) if word in hub_code]

    # Then it imports no kind's module and names no kind: a new kind needs no hub edit
    assert kinds, "no camera kind modules found"
    assert imported_kinds == set()
    assert named_types == []


def test_core_modules_import_nothing_from_the_glue() -> None:
    # Given the import graph
    graph = _import_graph()
    core = {name for name in graph if name.startswith(f"{PACKAGE}.core")}

    # When collecting what core modules import from the integration
    outside = {target for name in core for target in graph[name] if target not in core}

    # Then it is nothing: the pipeline sits below the glue
    assert core
    assert outside == set()
