"""Fix flows of HomeSec's repair issues.

Only the damaged-database notice has one: nothing needs fixing (HomeSec already replaced the
file), the user confirms they have read where the damaged copy was moved, and it goes.
"""

from __future__ import annotations

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.core import HomeAssistant


async def async_create_fix_flow(
    hass: HomeAssistant,
    issue_id: str,
    data: dict[str, str | int | float | None] | None,
) -> RepairsFlow:
    """An acknowledge-only flow."""
    return ConfirmRepairFlow()
