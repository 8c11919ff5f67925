"""The schema library of the running Home Assistant line, detected in this one place.

Home Assistant 2026.10 and later validate with probatio (and install it as `voluptuous` for
code that still imports that name); 2025.4 validates with voluptuous. The two share one API.
Importing probatio where it exists lets mypy check HomeSec's schemas against the newest line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks against the newest line
    import probatio as vol
else:
    try:
        import probatio as vol
    except ImportError:  # Home Assistant before 2026.10
        import voluptuous as vol

__all__ = ["vol"]
