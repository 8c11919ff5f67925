"""Turn config entry options and camera subentry data into the pipeline's typed settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .const import (
    CONF_ALERT_COOLDOWN_S,
    CONF_ALERT_HOLD_S,
    CONF_DELETE_AFTER_STORE,
    CONF_FILTER,
    CONF_FILTER_CLASSES,
    CONF_FILTER_EARLY_EXIT,
    CONF_FILTER_MAX_FRAMES,
    CONF_FILTER_MIN_BOX_HEIGHT,
    CONF_FILTER_MIN_CONFIDENCE,
    CONF_FILTER_MIN_HITS,
    CONF_FILTER_MODEL_PATH,
    CONF_FILTER_SAMPLE_INTERVAL_S,
    CONF_LINK_EXPIRY_HOURS,
    CONF_LIVE_ALERTS,
    CONF_MAX_ATTEMPTS,
    CONF_MAX_CLIPS_IN_FLIGHT,
    CONF_MAX_STORAGE_GB,
    CONF_MIN_RISK_LEVEL,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_NOTIFY_ON_MOTION,
    CONF_OFFSITE_CAMERAS,
    CONF_OFFSITE_ENABLED,
    CONF_OFFSITE_RETENTION_DAYS,
    CONF_PER_CAMERA_ALERT,
    CONF_RETENTION_DAYS,
    CONF_TRIGGER_CLASSES,
    CONF_VLM_AI_TASK_ENTITY,
    CONF_VLM_API_KEY,
    CONF_VLM_BACKEND,
    CONF_VLM_BASE_URL,
    CONF_VLM_ENABLED,
    CONF_VLM_HOUSEHOLD_NOTES,
    CONF_VLM_IMAGE_DETAIL,
    CONF_VLM_JPEG_QUALITY,
    CONF_VLM_MAX_CALLS_PER_DAY,
    CONF_VLM_MAX_FRAMES,
    CONF_VLM_MAX_IMAGE_SIDE,
    CONF_VLM_MAX_OUTPUT_TOKENS,
    CONF_VLM_MAX_TOKENS_PER_DAY,
    CONF_VLM_MODEL,
    CONF_VLM_PRICE_COMPLETION,
    CONF_VLM_PRICE_PROMPT,
    CONF_VLM_REQUEST_TIMEOUT_S,
    CONF_VLM_RESPONSE_LANGUAGE,
    CONF_VLM_RUN_MODE,
    CONF_VLM_TEMPERATURE,
    DEFAULT_ALERT_HOLD_S,
    DEFAULT_FILTER_CLASSES,
    DEFAULT_FILTER_MAX_FRAMES,
    DEFAULT_FILTER_MIN_BOX_HEIGHT,
    DEFAULT_FILTER_MIN_CONFIDENCE,
    DEFAULT_FILTER_MIN_HITS,
    DEFAULT_FILTER_SAMPLE_INTERVAL_S,
    DEFAULT_LINK_EXPIRY_HOURS,
    DEFAULT_LIVE_ALERTS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CLIPS_IN_FLIGHT,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_MIN_RISK_LEVEL,
    DEFAULT_OFFSITE_RETENTION_DAYS,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TRIGGER_CLASSES,
    FILTER_NONE,
    VLM_BACKEND_AI_TASK,
    VLM_BACKEND_OPENAI,
)
from .core.alert_policy import AlertPolicySettings
from .core.filters.onnx import OnnxFilterSettings
from .core.models import VLMRunMode
from .core.retention import RetentionSettings
from .core.runner import CameraPipelineSettings, PipelineSettings, RetrySettings
from .core.vlm.openai_compatible import VLMSettings

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
            CONF_ALERT_COOLDOWN_S: float(options.get(CONF_ALERT_COOLDOWN_S, 0)),
            CONF_LIVE_ALERTS: bool(options.get(CONF_LIVE_ALERTS, DEFAULT_LIVE_ALERTS)),
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
    camera: Mapping[str, Any], hub: AlertPolicySettings, options: Mapping[str, Any]
) -> CameraPipelineSettings:
    """Per-camera runner settings."""
    return CameraPipelineSettings(
        vlm_run_mode=VLMRunMode(
            _pick(camera, options, CONF_VLM_RUN_MODE, VLMRunMode.TRIGGER_ONLY.value)
        ),
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
        # With the off-site copy on, a clip is kept locally until its copy exists.
        offsite_copy_days=(
            float(options.get(CONF_OFFSITE_RETENTION_DAYS, DEFAULT_OFFSITE_RETENTION_DAYS))
            if options.get(CONF_OFFSITE_ENABLED)
            else None
        ),
        offsite_cameras=frozenset(options.get(CONF_OFFSITE_CAMERAS) or []) or None,
    )


def link_expiry_seconds(options: Mapping[str, Any]) -> float:
    """How long signed clip and snapshot links stay valid."""
    return float(options.get(CONF_LINK_EXPIRY_HOURS, DEFAULT_LINK_EXPIRY_HOURS)) * 3600.0


def alert_hold_seconds(options: Mapping[str, Any]) -> float:
    """How long the alert binary_sensor stays on after an alert."""
    return float(options.get(CONF_ALERT_HOLD_S, DEFAULT_ALERT_HOLD_S))


def camera_filter(camera: Mapping[str, Any], default: str = FILTER_NONE) -> str:
    """The object filter a camera uses: `none`, `onnx` or `frigate` (which reuses Frigate's
    own detection); `default` is its camera kind's when the form leaves it unset."""
    return str(camera.get(CONF_FILTER) or default)


def _on_off(value: Any) -> bool:
    """Booleans from the hub (bool) or a camera override ("on"/"off")."""
    return value in (True, "on", "true")


def _pick(camera: Mapping[str, Any], options: Mapping[str, Any], key: str, default: Any) -> Any:
    """A camera's own value, else the hub's, else the default (empty means not set)."""
    for source in (camera, options):
        value = source.get(key)
        if value not in (None, "", [], INHERIT):
            return value
    return default


def model_path(camera: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    """The ONNX model file a camera uses (its own, else the hub's), or None."""
    value = _pick(camera, options, CONF_FILTER_MODEL_PATH, None)
    return str(value).strip() or None if value else None


def onnx_filter_settings(
    camera: Mapping[str, Any], options: Mapping[str, Any], trigger_classes: frozenset[str]
) -> OnnxFilterSettings:
    """The ONNX filter settings of a camera: its overrides on top of the hub's defaults.

    The trigger classes are always detected (they are what early exit waits for).
    Raises ValueError when no model is configured or a value is out of range.
    """
    path = model_path(camera, options)
    if path is None:
        raise ValueError("no ONNX model file is configured")
    classes = frozenset(_pick(camera, options, CONF_FILTER_CLASSES, DEFAULT_FILTER_CLASSES))
    return OnnxFilterSettings(
        model_path=Path(path),
        classes=classes | trigger_classes,
        min_confidence=float(
            _pick(camera, options, CONF_FILTER_MIN_CONFIDENCE, DEFAULT_FILTER_MIN_CONFIDENCE)
        ),
        min_box_height=float(
            _pick(camera, options, CONF_FILTER_MIN_BOX_HEIGHT, DEFAULT_FILTER_MIN_BOX_HEIGHT)
        ),
        min_hits=int(_pick(camera, options, CONF_FILTER_MIN_HITS, DEFAULT_FILTER_MIN_HITS)),
        sample_interval_s=float(
            _pick(camera, options, CONF_FILTER_SAMPLE_INTERVAL_S, DEFAULT_FILTER_SAMPLE_INTERVAL_S)
        ),
        max_frames=int(_pick(camera, options, CONF_FILTER_MAX_FRAMES, DEFAULT_FILTER_MAX_FRAMES)),
        early_exit=_on_off(_pick(camera, options, CONF_FILTER_EARLY_EXIT, True)),
        trigger_classes=trigger_classes,
    )


def vlm_settings(
    data: Mapping[str, Any], options: Mapping[str, Any], default_language: str
) -> VLMSettings | None:
    """The vision model settings, or None when no vision model is enabled."""
    if not options.get(CONF_VLM_ENABLED):
        return None
    if vlm_backend(options) == VLM_BACKEND_OPENAI and not options.get(CONF_VLM_MODEL):
        return None
    return vlm_settings_from(
        {**options, CONF_VLM_API_KEY: data.get(CONF_VLM_API_KEY)}, default_language
    )


def vlm_settings_from(values: Mapping[str, Any], default_language: str) -> VLMSettings:
    """VLMSettings from form or stored values (the API key included in `values`)."""
    defaults = VLMSettings(base_url="", model="")
    return VLMSettings(
        base_url=str(values.get(CONF_VLM_BASE_URL) or "").strip(),
        api_key=(str(values.get(CONF_VLM_API_KEY) or "").strip() or None),
        model=str(values.get(CONF_VLM_MODEL) or "").strip(),
        max_frames=int(values.get(CONF_VLM_MAX_FRAMES, defaults.max_frames)),
        max_image_side=int(values.get(CONF_VLM_MAX_IMAGE_SIDE, defaults.max_image_side)),
        jpeg_quality=int(values.get(CONF_VLM_JPEG_QUALITY, defaults.jpeg_quality)),
        image_detail=str(values.get(CONF_VLM_IMAGE_DETAIL, defaults.image_detail)),
        request_timeout_s=float(values.get(CONF_VLM_REQUEST_TIMEOUT_S, defaults.request_timeout_s)),
        max_output_tokens=int(values.get(CONF_VLM_MAX_OUTPUT_TOKENS, defaults.max_output_tokens)),
        temperature=float(values.get(CONF_VLM_TEMPERATURE, defaults.temperature)),
        response_language=str(values.get(CONF_VLM_RESPONSE_LANGUAGE) or default_language),
        household_notes=str(values.get(CONF_VLM_HOUSEHOLD_NOTES) or ""),
        price_prompt_per_million=float(values.get(CONF_VLM_PRICE_PROMPT, 0.0)),
        price_completion_per_million=float(values.get(CONF_VLM_PRICE_COMPLETION, 0.0)),
        max_calls_per_day=int(values.get(CONF_VLM_MAX_CALLS_PER_DAY, 0)),
        max_tokens_per_day=int(values.get(CONF_VLM_MAX_TOKENS_PER_DAY, 0)),
    )


def vlm_backend(options: Mapping[str, Any]) -> str:
    """The vision model backend: `openai_compatible` (the default) or `ai_task`."""
    backend = options.get(CONF_VLM_BACKEND)
    return VLM_BACKEND_AI_TASK if backend == VLM_BACKEND_AI_TASK else VLM_BACKEND_OPENAI


def vlm_ai_task_entity(options: Mapping[str, Any]) -> str | None:
    """The AI Task entity analyses go to; None for Home Assistant's preferred one."""
    return str(options.get(CONF_VLM_AI_TASK_ENTITY) or "").strip() or None


PER_CAMERA_ALERT_KEYS = (CONF_MIN_RISK_LEVEL, CONF_NOTIFY_ON_ACTIVITY_TYPES, CONF_NOTIFY_ON_MOTION)


def validate_per_camera_alert(value: Any) -> dict[str, dict[str, Any]]:
    """Check `{camera: {min_risk_level, notify_on_activity_types, notify_on_motion}}`, the
    seed's `per_camera_alert`, keyed by Frigate camera names. Raises ValueError."""
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of camera names to alert settings")
    result: dict[str, dict[str, Any]] = {}
    for camera, settings in value.items():
        if not isinstance(settings, Mapping):
            raise ValueError(f"{camera}: expected alert settings")
        unknown = set(settings) - set(PER_CAMERA_ALERT_KEYS)
        if unknown:
            raise ValueError(f"{camera}: unknown setting(s) {', '.join(sorted(unknown))}")
        AlertPolicySettings.from_config(settings)  # enum values are checked here
        motion = settings.get(CONF_NOTIFY_ON_MOTION)
        if motion is not None and not isinstance(motion, bool):
            raise ValueError(f"{camera}: notify_on_motion must be true or false")
        result[str(camera)] = dict(settings)
    return result


def frigate_camera_config(subentry: Mapping[str, Any], camera: str) -> dict[str, Any]:
    """A Frigate camera's settings: its subentry's, with its per-camera alert overrides."""
    overrides = subentry.get(CONF_PER_CAMERA_ALERT) or {}
    return {**subentry, **dict(overrides.get(camera, {}))}
