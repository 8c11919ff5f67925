"""Diagnostics for the hub config entry and for each camera device (secrets redacted)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_URL, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .const import DOMAIN
from .core.models import ClipState
from .core.store import StoreError
from .hub import HomeSecConfigEntry, HomeSecHub
from .runtime import CameraRuntime

TO_REDACT = {
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_USERNAME,
    CONF_URL,
    "api_key",
    "vlm_api_key",
    "link_secret",
    "access_token",
    "refresh_token",
    "app_secret",
    "rtsp_url",
    "detect_url",
    "record_url",
    # Email: the secrets, and the addresses and login (personal data).
    "smtp_password",
    "sendgrid_api_key",
    "smtp_username",
    "email_from",
    "email_to",
}
RECENT_CLIPS = 10


def _clip(state: ClipState) -> dict[str, Any]:
    return {
        "clip_id": state.clip_id,
        "status": state.status.value,
        "start": state.start_ts.isoformat(),
        "detected_classes": (
            list(state.filter_result.detected_classes) if state.filter_result else None
        ),
        "risk_level": state.analysis.risk_level.value if state.analysis else None,
        "analysis_skipped_reason": state.analysis_skipped_reason,
        "alert": state.alert_decision.to_dict() if state.alert_decision else None,
        "error": state.error,
    }


async def _camera(hub: HomeSecHub, camera: CameraRuntime) -> dict[str, Any]:
    recent = await hub.store.recent_states(camera.camera_id, RECENT_CLIPS)
    return {
        "name": camera.name,
        "source_type": camera.source_type,
        "config": async_redact_data(camera.config, TO_REDACT),
        "source": async_redact_data(camera.source.diagnostics(), TO_REDACT)
        if camera.source
        else None,
        "clips_today": camera.clips_today,
        "alerts_today": camera.alerts_today,
        "alert_active": camera.alert_active,
        "recent_clips": [_clip(s) for s in recent],
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HomeSecConfigEntry
) -> dict[str, Any]:
    """The hub, its pipeline and every camera."""
    hub = entry.runtime_data
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "store": {
            "path": str(hub.store.path),
            "schema_version": await _schema_version(hub),
            "recoveries": [
                {"damaged_path": str(r.damaged_path), "reason": r.reason, "at": r.at.isoformat()}
                for r in hub.store.recoveries
            ],
        },
        "pipeline": {
            "clips_in_flight": hub.pipeline.clips_in_flight,
            "clips_queued": hub.pipeline.clips_queued,
            "clips_waiting_for_incident": hub.pipeline.clips_waiting_for_incident,
            "last_error": hub.pipeline.last_error,
        },
        "health": hub.health.diagnostics(),
        "live_alerts": hub.live.diagnostics(),
        "offsite": hub.offsite.diagnostics(),
        "vision_model": (
            {
                "analyzer": async_redact_data(hub.vision.analyzer.diagnostics(), TO_REDACT),
                "usage_today": hub.vision.usage.snapshot().to_dict(),
            }
            if hub.vision
            else None
        ),
        "camera_kinds": {
            sid: async_redact_data(details, TO_REDACT)
            for sid, kind in hub.kinds.items()
            if (details := kind.diagnostics()) is not None
        },
        "cameras": {cid: await _camera(hub, cam) for cid, cam in hub.cameras.items()},
    }


async def _schema_version(hub: HomeSecHub) -> int | str:
    """The database's schema version, or why it cannot be read now."""
    try:
        return await hub.store.schema_version()
    except StoreError as err:
        return f"unavailable: {err}"


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: HomeSecConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """One camera (or the hub device)."""
    hub = entry.runtime_data
    for domain, identifier in device.identifiers:
        if domain == DOMAIN and identifier in hub.cameras:
            return await _camera(hub, hub.cameras[identifier])
    return await async_get_config_entry_diagnostics(hass, entry)
