"""Service actions: `homesec_nvr.cleanup` (retention now, with dry run),
`homesec_nvr.snooze` (hold back a camera's alerts for a while; the notifications' "Snooze 1 h"
button does the same) and `homesec_nvr.review` (mark clips reviewed or a false alarm; the
notifications' "Mark reviewed" button does the same). `get_clips` and `analyze` are in
services_history.py.

Wrong use raises a translated ServiceValidationError (no hub loaded, no such clip); a failure
while cleaning up or reviewing (the clip database or the storage folder) a translated
HomeAssistantError.
"""

from __future__ import annotations

import sqlite3

from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.helpers import config_validation as cv
from homeassistant.util.json import JsonValueType

from .const import (
    ATTR_CLIP_ID,
    ATTR_DEVICE_ID,
    ATTR_DRY_RUN,
    ATTR_MINUTES,
    ATTR_REVIEW,
    DOMAIN,
    REVIEW_NONE,
    SERVICE_CLEANUP,
    SERVICE_REVIEW,
    SERVICE_SNOOZE,
)
from .core.models import ReviewState
from .core.store import StoreError
from .review import async_review_clips
from .schema_compat import vol
from .service_errors import device_camera, failed, hub_or_raise, invalid
from .services_history import async_setup_history_services

CLEANUP_SCHEMA = vol.Schema({vol.Optional(ATTR_DRY_RUN, default=False): bool})
SNOOZE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): str,
        vol.Optional(ATTR_MINUTES, default=60): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=1440)
        ),
    }
)

REVIEW_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CLIP_ID): vol.All(
            cv.ensure_list, vol.Length(min=1), [vol.All(cv.string, vol.Length(min=1))]
        ),
        vol.Optional(ATTR_REVIEW, default=ReviewState.REVIEWED.value): vol.In(
            [*(r.value for r in ReviewState), REVIEW_NONE]
        ),
    }
)
# Unknown clip ids named in an error message (the rest are counted).
MAX_IDS_SHOWN = 5


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the service actions (once, at integration setup)."""

    async def cleanup(call: ServiceCall) -> ServiceResponse:
        hub = hub_or_raise(hass)
        try:
            report = await hub.async_run_retention(dry_run=bool(call.data[ATTR_DRY_RUN]))
        except (StoreError, sqlite3.Error, OSError) as err:
            raise failed("cleanup_failed", err) from err
        clips: list[JsonValueType] = list(report.clips)
        return {
            "dry_run": report.dry_run,
            "clips": clips,
            "clip_count": len(report.clips),
            "bytes_freed": report.bytes_freed,
            "bytes_kept": report.bytes_kept,
        }

    async def snooze(call: ServiceCall) -> ServiceResponse:
        hub = hub_or_raise(hass)
        camera = hub.cameras[device_camera(hass, hub, str(call.data[ATTR_DEVICE_ID]))]
        if hub.alert_policy is None:
            raise invalid("alerts_disabled")
        until = hub.async_snooze(camera.camera_id, float(call.data[ATTR_MINUTES]))
        return {"camera": camera.name, "snoozed_until": until.isoformat() if until else None}

    async def review(call: ServiceCall) -> ServiceResponse:
        hub = hub_or_raise(hass)
        value = str(call.data[ATTR_REVIEW])
        verdict = None if value == REVIEW_NONE else ReviewState(value)
        try:
            outcome = await async_review_clips(hub, call.data[ATTR_CLIP_ID], verdict)
        except StoreError as err:
            raise failed("review_failed", err) from err
        if not outcome.updated:
            shown = ", ".join(outcome.unknown[:MAX_IDS_SHOWN])
            if len(outcome.unknown) > MAX_IDS_SHOWN:
                shown += f" (+{len(outcome.unknown) - MAX_IDS_SHOWN})"
            raise invalid("unknown_clips", clip_ids=shown)
        updated: list[JsonValueType] = [
            {
                "clip_id": state.clip_id,
                "camera": state.camera_name,
                "review": state.review.value if state.review else None,
                "reviewed_at": state.reviewed_at.isoformat() if state.reviewed_at else None,
            }
            for state in outcome.updated
        ]
        unknown: list[JsonValueType] = list(outcome.unknown)
        return {
            "review": verdict.value if verdict else None,
            "updated": updated,
            "unknown": unknown,
        }

    hass.services.async_register(
        DOMAIN,
        SERVICE_REVIEW,
        review,
        schema=REVIEW_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
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
    async_setup_history_services(hass)
