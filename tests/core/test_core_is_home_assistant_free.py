"""The clip pipeline (core/) never imports Home Assistant: it runs and is tested without it."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).parent.parent.parent / "custom_components" / "homesec_nvr" / "core"
PACKAGE = "custom_components.homesec_nvr"


def _absolute(module: Path, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    package = [*PACKAGE.split("."), "core", *module.relative_to(CORE).parent.parts]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def test_no_core_module_imports_home_assistant() -> None:
    # Given every module of the pipeline core
    modules = sorted(CORE.rglob("*.py"))

    # When their imports are read
    offenders = []
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [_absolute(module, node)]
            offenders += [
                f"{module.relative_to(CORE)}: {name}"
                for name in names
                if name.startswith("homeassistant")
                or (name.startswith(PACKAGE) and not name.startswith(f"{PACKAGE}.core"))
            ]

    # Then none imports Home Assistant or the glue around core/ (and relative imports resolve)
    assert _absolute(CORE / "sources" / "x.py", ast.ImportFrom("models", [], 2)) == (
        f"{PACKAGE}.core.models"
    )
    assert _absolute(CORE / "x.py", ast.ImportFrom("const", [], 2)) == f"{PACKAGE}.const"
    assert len(modules) >= 20
    assert offenders == []
