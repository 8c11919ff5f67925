"""Shared by the benchmark scripts: import HomeSec's HA-free core without Home Assistant.

The integration's `__init__.py` imports Home Assistant; the pipeline core does not. Registering
the two parent packages as plain namespaces lets a benchmark import `core.*` modules directly,
so the figures are the core's own (no Home Assistant in memory).
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def import_core(module: str) -> Any:
    """Import `custom_components.homesec_nvr.core.<module>` without the integration's __init__."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    for name, path in (
        ("custom_components", ROOT / "custom_components"),
        ("custom_components.homesec_nvr", ROOT / "custom_components" / "homesec_nvr"),
    ):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(path)]
            sys.modules[name] = package
    return importlib.import_module(f"custom_components.homesec_nvr.core.{module}")
