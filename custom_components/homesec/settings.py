"""Turn config entry options and camera subentry data into the pipeline's typed settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .const import (
    CONF_ALERT_HOLD_S,
    CONF_DELETE_AFTER_STORE,
    CONF_MAX_ATTEMPTS,
    CONF_MAX_CLIPS_IN_FLIGHT,
    CONF_MAX_STORAGE_GB,
    CONF_MIN_RISK_LEVEL,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_NOTIFY_ON_MOTION,
    CONF_RETENTION_DAYS,
    CONF_TRIGGER_CLASSES,
    DEFAULT_ALERT_HOLD_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CLIPS_IN_FLIGHT,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_MIN_RISK_LEVEL,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TRIGGER_CLASSES,
)
from .core.alert_policy import AlertPolicySettings
from .core.retention import RetentionSettings
from .core.runner import CameraPipelineSettings, PipelineSettings, RetrySettings

# Camera subentries store their alert overrides with this value meaning "use the hub's".
INHERIT = "inherit"


def hub_alert_settings(options: Mapping[str, Any]) -> AlertPolicySettings:
    """The hub's alert-policy defaults."""
    return AlertPolicySettings.from_config(
        {
            CONF_MIN_RISK_LEVEL: options.get(CONF_MIN_RISK_LEVEL, DEFAULT_MIN_RISK_LEVEL),
            CONF_NOTIFY_ON_ACTIVITY_TYPES: options.get(CONF_NOTIFY_ON_ACTIVITY_TYPES, []),
            CONF_NOTIFY_ON_MOTION: bool(options.get(CONF_NOTIFY_ON_MOTION, False)),
            CONF_TRIGGER_CLASSES: options.get(CONF_TRIGGER_CLASSES) or DEFAULT_TRIGGER_CLASSES,
        }
    )


def camera_alert_settings(
    camera: Mapping[str, Any], hub: AlertPolicySettings
) -> AlertPolicySettings:
    """A camera's effective alert settings: its overrides on top of the hub's defaults."""
    overrides: dict[str, Any] = {}
    risk = camera.get(CONF_MIN_RISK_LEVEL)
    if risk and risk != INHERIT:
        overrides[CONF_MIN_RISK_LEVEL] = risk
    if activities := camera.get(CONF_NOTIFY_ON_ACTIVITY_TYPES):
        overrides[CONF_NOTIFY_ON_ACTIVITY_TYPES] = activities
    motion = camera.get(CONF_NOTIFY_ON_MOTION)
    if motion not in (None, "", INHERIT):
        overrides[CONF_NOTIFY_ON_MOTION] = motion in (True, "on", "true")
    if classes := camera.get(CONF_TRIGGER_CLASSES):
        overrides[CONF_TRIGGER_CLASSES] = classes
    return AlertPolicySettings.from_config(overrides, hub)


def camera_pipeline_settings(
    camera: Mapping[str, Any], hub: AlertPolicySettings
) -> CameraPipelineSettings:
    """Per-camera runner settings."""
    return CameraPipelineSettings(
        alert=camera_alert_settings(camera, hub),
        delete_source_after_store=bool(camera.get(CONF_DELETE_AFTER_STORE, False)),
    )


def pipeline_settings(options: Mapping[str, Any]) -> PipelineSettings:
    """Concurrency and retry settings."""
    return PipelineSettings(
        max_clips_in_flight=int(options.get(CONF_MAX_CLIPS_IN_FLIGHT, DEFAULT_MAX_CLIPS_IN_FLIGHT)),
        retry=RetrySettings(max_attempts=int(options.get(CONF_MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS))),
    )


def retention_settings(options: Mapping[str, Any]) -> RetentionSettings:
    """Retention limits (0 disables a limit)."""
    return RetentionSettings(
        max_age_days=float(options.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
        max_total_gb=float(options.get(CONF_MAX_STORAGE_GB, DEFAULT_MAX_STORAGE_GB)),
    )


def alert_hold_seconds(options: Mapping[str, Any]) -> float:
    """How long the alert binary_sensor stays on after an alert."""
    return float(options.get(CONF_ALERT_HOLD_S, DEFAULT_ALERT_HOLD_S))
