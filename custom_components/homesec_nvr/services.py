"""Service actions: `homesec_nvr.cleanup` (retention now, with dry run).

Wrong use raises a translated ServiceValidationError (no hub loaded); a failure while
cleaning up (the clip database or the storage folder) a translated HomeAssistantError.
"""

from __future__ import annotations

import sqlite3

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util.json import JsonValueType

from .const import ATTR_DRY_RUN, DOMAIN, SERVICE_CLEANUP
from .core.store import StoreError
from .hub import HomeSecConfigEntry
from .schema_compat import vol

CLEANUP_SCHEMA = vol.Schema({vol.Optional(ATTR_DRY_RUN, default=False): bool})


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the service actions (once, at integration setup)."""

    async def cleanup(call: ServiceCall) -> ServiceResponse:
        entries: list[HomeSecConfigEntry] = [
            e
            for e in hass.config_entries.async_entries(DOMAIN)
            if e.state is ConfigEntryState.LOADED
        ]
        if not entries:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
        try:
            report = await entries[0].runtime_data.async_run_retention(
                dry_run=bool(call.data[ATTR_DRY_RUN])
            )
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

    hass.services.async_register(
        DOMAIN,
        SERVICE_CLEANUP,
        cleanup,
        schema=CLEANUP_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
