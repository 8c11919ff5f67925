"""The manifest declares every third-party package the integration imports when it loads.

A real Home Assistant installs only the manifest's requirements (and its own): a package that the
test virtualenv happens to hold but the manifest does not name fails on a user's machine with
`No module named ...`. Imports inside functions (onnxruntime, installed on demand) are exempt.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parent.parent / "custom_components" / "homesec_nvr"


class _LoadTimeImports(ast.NodeVisitor):
    """Collects top-level module names imported outside function bodies; those imported in a
    `try:` whose `except ImportError:` falls back to another import are optional."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.optional: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        """`if TYPE_CHECKING:` imports are for mypy only."""
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.orelse:
                self.visit(statement)
        else:
            self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(
            isinstance(handler.type, ast.Name)
            and handler.type.id in ("ImportError", "ModuleNotFoundError")
            for handler in node.handlers
        )
        if guarded:
            inner = _LoadTimeImports()
            for statement in node.body:
                inner.visit(statement)
            self.optional |= inner.names
            for part in (*node.handlers, *node.orelse, *node.finalbody):
                self.visit(part)
        else:
            self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        """Imports inside functions run on demand: not at load time."""

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name.split(".")[0] for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.names.add(node.module.split(".")[0])


def _load_time_imports() -> set[str]:
    """Modules that must be importable: the unconditional ones, and the optional ones this
    line has (whatever it has is then checked too)."""
    visitor = _LoadTimeImports()
    for path in ROOT.rglob("*.py"):
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
    present = {name for name in visitor.optional if importlib.util.find_spec(name) is not None}
    return visitor.names | present


def _distributions_of(module: str) -> set[str]:
    """Distributions that provide `module`, following Home Assistant's import aliases (HA
    2026.11 answers `import voluptuous` with probatio and `import httpx` with httpx2)."""
    real = importlib.import_module(module).__name__.split(".")[0]
    installed = importlib.metadata.packages_distributions()
    return {canonicalize_name(d) for name in {module, real} for d in installed.get(name, [])}


def _home_assistant_requirements() -> set[str]:
    return {
        canonicalize_name(Requirement(r).name)
        for r in importlib.metadata.requires("homeassistant") or []
        if "extra ==" not in r
    }


def test_every_load_time_import_is_declared() -> None:
    # Given: the manifest's requirements and Home Assistant's own dependencies
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    declared = {canonicalize_name(Requirement(r).name) for r in manifest["requirements"]}
    provided = _home_assistant_requirements()
    stdlib = set(sys.stdlib_module_names) | {"__future__"}

    # When: listing the third-party packages the integration imports at module level
    third_party = sorted(_load_time_imports() - stdlib - {"homeassistant", "custom_components"})

    # Then: each one comes from a declared requirement or from Home Assistant itself
    undeclared = [
        module for module in third_party if not _distributions_of(module) & (declared | provided)
    ]
    assert third_party, "the scan found no third-party import at all"
    assert undeclared == []


def test_requirements_are_ranges_not_pins() -> None:
    # Given: the manifest
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))

    # When: reading each requirement's specifier
    specifiers = [Requirement(r).specifier for r in manifest["requirements"]]

    # Then: none pins an exact version (Home Assistant's own pins must win on every line)
    assert specifiers
    assert all(spec.operator != "==" for specs in specifiers for spec in specs)
    # And onnxruntime (no musllinux wheels) is installed on demand, never required
    assert not any(r.startswith("onnxruntime") for r in manifest["requirements"])
