"""Service actions: `homesec_nvr.cleanup` (retention now, with dry run) and
`homesec_nvr.snooze` (hold back a camera's alerts for a while; the notifications' "Snooze 1 h"
button does the same).

Wrong use raises a translated ServiceValidationError (no hub loaded); a failure while
cleaning up (the clip database or the storage folder) a translated HomeAssistantError.
"""

from __future__ import annotations

import sqlite3

from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.util.json import JsonValueType

from .const import (
    ATTR_DEVICE_ID,
    ATTR_DRY_RUN,
    ATTR_MINUTES,
    DOMAIN,
    SERVICE_CLEANUP,
    SERVICE_SNOOZE,
)
from .core.store import StoreError
from .hub import HomeSecHub, loaded_hub
from .schema_compat import vol

CLEANUP_SCHEMA = vol.Schema({vol.Optional(ATTR_DRY_RUN, default=False): bool})
SNOOZE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): str,
        vol.Optional(ATTR_MINUTES, default=60): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=1440)
        ),
    }
)


def _loaded_hub(hass: HomeAssistant) -> HomeSecHub:
    if (hub := loaded_hub(hass)) is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
    return hub


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the service actions (once, at integration setup)."""

    async def cleanup(call: ServiceCall) -> ServiceResponse:
        hub = _loaded_hub(hass)
        try:
            report = await hub.async_run_retention(dry_run=bool(call.data[ATTR_DRY_RUN]))
        except (StoreError, sqlite3.Error, OSError) as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="cleanup_failed",
                translation_placeholders={"error": str(err) or type(err).__name__},
            ) from err
        clips: list[JsonValueType] = list(report.clips)
        return {
            "dry_run": report.dry_run,
            "clips": clips,
            "clip_count": len(report.clips),
            "bytes_freed": report.bytes_freed,
            "bytes_kept": report.bytes_kept,
        }

    async def snooze(call: ServiceCall) -> ServiceResponse:
        hub = _loaded_hub(hass)
        device = dr.async_get(hass).async_get(call.data[ATTR_DEVICE_ID])
        camera_ids = [i for d, i in (device.identifiers if device else ()) if d == DOMAIN]
        camera = next((hub.cameras[c] for c in camera_ids if c in hub.cameras), None)
        if camera is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_camera",
                translation_placeholders={"device_id": str(call.data[ATTR_DEVICE_ID])},
            )
        if hub.alert_policy is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="alerts_disabled"
            )
        until = hub.async_snooze(camera.camera_id, float(call.data[ATTR_MINUTES]))
        return {"camera": camera.name, "snoozed_until": until.isoformat() if until else None}

    hass.services.async_register(
        DOMAIN,
        SERVICE_SNOOZE,
        snooze,
        schema=SNOOZE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_CLEANUP,
        cleanup,
        schema=CLEANUP_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
