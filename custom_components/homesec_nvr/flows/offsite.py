"""The hub options' off-site copy page (Dropbox): on or off, the folder, the retention
(days and size).

Saving it on without a sign-in makes the hub ask for one (a reauthentication of the hub
entry that runs Home Assistant's OAuth2 flow with the user's Dropbox application
credentials)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_entry_oauth2_flow, selector

from ..const import (
    CONF_OFFSITE_CAMERAS,
    CONF_OFFSITE_ENABLED,
    CONF_OFFSITE_MAX_GB,
    CONF_OFFSITE_RETENTION_DAYS,
    CONF_OFFSITE_ROOT,
    DEFAULT_OFFSITE_MAX_GB,
    DEFAULT_OFFSITE_RETENTION_DAYS,
    DEFAULT_OFFSITE_ROOT,
    DOMAIN,
)
from ..core.offsite import normalize_root
from ..schema_compat import vol
from .fields import number

OFFSITE_KEYS = (
    CONF_OFFSITE_ENABLED,
    CONF_OFFSITE_ROOT,
    CONF_OFFSITE_RETENTION_DAYS,
    CONF_OFFSITE_MAX_GB,
    CONF_OFFSITE_CAMERAS,
)


def offsite_fields(values: Mapping[str, Any], cameras: Mapping[str, str]) -> dict[Any, Any]:
    """The page's fields; `cameras`: camera id -> name of the hub's cameras."""
    known = [c for c in values.get(CONF_OFFSITE_CAMERAS) or [] if c in cameras]
    return {
        vol.Required(
            CONF_OFFSITE_ENABLED, default=bool(values.get(CONF_OFFSITE_ENABLED, False))
        ): selector.BooleanSelector(),
        vol.Required(
            CONF_OFFSITE_ROOT, default=values.get(CONF_OFFSITE_ROOT, DEFAULT_OFFSITE_ROOT)
        ): selector.TextSelector(),
        vol.Required(
            CONF_OFFSITE_RETENTION_DAYS,
            default=values.get(CONF_OFFSITE_RETENTION_DAYS, DEFAULT_OFFSITE_RETENTION_DAYS),
        ): number(0, 3650, 1, "d"),
        vol.Required(
            CONF_OFFSITE_MAX_GB,
            default=values.get(CONF_OFFSITE_MAX_GB, DEFAULT_OFFSITE_MAX_GB),
        ): number(0, 100000, 0.1, "GB"),
        vol.Optional(CONF_OFFSITE_CAMERAS, default=known): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[
                    selector.SelectOptionDict(value=cid, label=name)
                    for cid, name in sorted(cameras.items(), key=lambda item: item[1])
                ],
                multiple=True,
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        ),
    }


async def async_check_offsite(hass: HomeAssistant, user_input: dict[str, Any]) -> dict[str, str]:
    """Errors of the page (normalizes the folder in place)."""
    user_input[CONF_OFFSITE_ROOT] = normalize_root(str(user_input.get(CONF_OFFSITE_ROOT, "")))[1:]
    user_input[CONF_OFFSITE_RETENTION_DAYS] = int(user_input[CONF_OFFSITE_RETENTION_DAYS])
    user_input[CONF_OFFSITE_MAX_GB] = float(
        user_input.get(CONF_OFFSITE_MAX_GB, DEFAULT_OFFSITE_MAX_GB)
    )
    user_input[CONF_OFFSITE_CAMERAS] = list(user_input.get(CONF_OFFSITE_CAMERAS) or [])
    if not user_input.get(CONF_OFFSITE_ENABLED):
        return {}
    if not await config_entry_oauth2_flow.async_get_implementations(hass, DOMAIN):
        return {"base": "dropbox_no_credentials"}
    return {}
