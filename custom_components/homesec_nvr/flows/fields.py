"""Selectors, form fields and checks more than one flow uses (hub, options, cameras)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
from homeassistant.helpers.httpx_client import get_async_client

from ..const import (
    CONF_ALERT_COOLDOWN_S,
    CONF_ALERT_HOLD_S,
    CONF_ALERTS_ENABLED,
    CONF_CAMERA_GROUPS,
    CONF_FILTER_CLASSES,
    CONF_FILTER_EARLY_EXIT,
    CONF_FILTER_MAX_FRAMES,
    CONF_FILTER_MIN_BOX_HEIGHT,
    CONF_FILTER_MIN_CONFIDENCE,
    CONF_FILTER_MIN_HITS,
    CONF_FILTER_MODEL_PATH,
    CONF_FILTER_SAMPLE_INTERVAL_S,
    CONF_GROUP_WINDOW_S,
    CONF_INCIDENT_GAP_S,
    CONF_LINK_EXPIRY_HOURS,
    CONF_LIVE_ALERTS,
    CONF_MAX_ATTEMPTS,
    CONF_MAX_CLIPS_IN_FLIGHT,
    CONF_MAX_STORAGE_GB,
    CONF_MIN_RISK_LEVEL,
    CONF_MQTT_ENABLED,
    CONF_MQTT_QOS,
    CONF_MQTT_RETAIN,
    CONF_MQTT_SNAPSHOT,
    CONF_MQTT_TOPIC_PREFIX,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_NOTIFY_ON_MOTION,
    CONF_NOTIFY_SERVICES,
    CONF_PERSISTENT_NOTIFICATION,
    CONF_RETENTION_DAYS,
    CONF_TRIGGER_CLASSES,
    CONF_VLM_AI_TASK_ENTITY,
    CONF_VLM_BACKEND,
    CONF_VLM_BASE_URL,
    CONF_VLM_ENABLED,
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
    CONF_VLM_RUN_MODE,
    CONF_VLM_TEMPERATURE,
    DEFAULT_ALERT_COOLDOWN_S,
    DEFAULT_ALERT_HOLD_S,
    DEFAULT_FILTER_CLASSES,
    DEFAULT_FILTER_MAX_FRAMES,
    DEFAULT_FILTER_MIN_BOX_HEIGHT,
    DEFAULT_FILTER_MIN_CONFIDENCE,
    DEFAULT_FILTER_MIN_HITS,
    DEFAULT_FILTER_SAMPLE_INTERVAL_S,
    DEFAULT_GROUP_WINDOW_S,
    DEFAULT_INCIDENT_GAP_S,
    DEFAULT_LINK_EXPIRY_HOURS,
    DEFAULT_LIVE_ALERTS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CLIPS_IN_FLIGHT,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_MIN_RISK_LEVEL,
    DEFAULT_MQTT_QOS,
    DEFAULT_MQTT_TOPIC_PREFIX,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TRIGGER_CLASSES,
    DEFAULT_VLM_BASE_URL,
    DEFAULT_VLM_MODEL,
    VLM_BACKEND_AI_TASK,
    VLM_BACKEND_OPENAI,
)
from ..core.filters.coco import COCO80_NAMES
from ..core.models import ActivityType, RiskLevel, VLMRunMode
from ..core.vlm.openai_compatible import VLMError, VLMSettings, validate_connection
from ..schema_compat import vol
from ..settings import INHERIT

# -- selectors -----------------------------------------------------------------------------

COMMON_TRIGGER_CLASSES = [
    "person",
    "car",
    "truck",
    "bus",
    "motorcycle",
    "bicycle",
    "dog",
    "cat",
    "bird",
    "backpack",
    "handbag",
    "suitcase",
]


def risk_selector(with_inherit: bool) -> selector.SelectSelector:
    options = [r.value for r in RiskLevel]
    if with_inherit:
        options = [INHERIT, *options]
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options,
            mode=selector.SelectSelectorMode.DROPDOWN,
            translation_key="min_risk_level",
        )
    )


def activity_selector() -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[a.value for a in ActivityType],
            multiple=True,
            mode=selector.SelectSelectorMode.DROPDOWN,
            translation_key="activity_type",
        )
    )


def classes_selector(options: list[str] | None = None) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options or COMMON_TRIGGER_CLASSES,
            multiple=True,
            custom_value=True,
            mode=selector.SelectSelectorMode.DROPDOWN,
        )
    )


def number(
    minimum: float, maximum: float, step: float, unit: str | None = None
) -> selector.NumberSelector:
    config = selector.NumberSelectorConfig(
        min=minimum, max=maximum, step=step, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


def run_mode_selector(with_inherit: bool) -> selector.SelectSelector:
    options = [m.value for m in VLMRunMode]
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[INHERIT, *options] if with_inherit else options,
            mode=selector.SelectSelectorMode.DROPDOWN,
            translation_key="vlm_run_mode",
        )
    )


def _inherit_on_off(translation_key: str) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[INHERIT, "on", "off"],
            mode=selector.SelectSelectorMode.DROPDOWN,
            translation_key=translation_key,
        )
    )


# -- object filter fields (hub defaults and camera overrides) ------------------------------

FILTER_KEYS = (
    CONF_FILTER_MODEL_PATH,
    CONF_FILTER_CLASSES,
    CONF_FILTER_MIN_CONFIDENCE,
    CONF_FILTER_MIN_BOX_HEIGHT,
    CONF_FILTER_MIN_HITS,
    CONF_FILTER_SAMPLE_INTERVAL_S,
    CONF_FILTER_MAX_FRAMES,
    CONF_FILTER_EARLY_EXIT,
)


def filter_fields(hub: bool, values: Mapping[str, Any] | None = None) -> dict[Any, Any]:
    """Object-filter fields: hub defaults (required, showing `values`) or camera overrides
    (all optional: empty means the hub's value)."""
    current = values or {}

    def key(name: str, default: Any) -> vol.Marker:
        return vol.Required(name, default=current.get(name, default)) if hub else vol.Optional(name)

    return {
        vol.Optional(CONF_FILTER_MODEL_PATH): selector.TextSelector(),
        key(CONF_FILTER_CLASSES, list(DEFAULT_FILTER_CLASSES)): classes_selector(
            list(COCO80_NAMES)
        ),
        key(CONF_FILTER_MIN_CONFIDENCE, DEFAULT_FILTER_MIN_CONFIDENCE): number(0.05, 1, 0.05),
        key(CONF_FILTER_MIN_BOX_HEIGHT, DEFAULT_FILTER_MIN_BOX_HEIGHT): number(0, 1, 0.01),
        key(CONF_FILTER_MIN_HITS, DEFAULT_FILTER_MIN_HITS): number(1, 50, 1),
        key(CONF_FILTER_SAMPLE_INTERVAL_S, DEFAULT_FILTER_SAMPLE_INTERVAL_S): number(
            0.1, 60, 0.1, "s"
        ),
        key(CONF_FILTER_MAX_FRAMES, DEFAULT_FILTER_MAX_FRAMES): number(1, 500, 1),
        (
            vol.Required(CONF_FILTER_EARLY_EXIT, default=current.get(CONF_FILTER_EARLY_EXIT, True))
            if hub
            else vol.Optional(CONF_FILTER_EARLY_EXIT)
        ): (bool if hub else _inherit_on_off("filter_early_exit")),
    }


# -- defaults ------------------------------------------------------------------------------


def default_options() -> dict[str, Any]:
    """Options of a new hub."""
    return {
        CONF_RETENTION_DAYS: DEFAULT_RETENTION_DAYS,
        CONF_MAX_STORAGE_GB: DEFAULT_MAX_STORAGE_GB,
        CONF_MAX_CLIPS_IN_FLIGHT: DEFAULT_MAX_CLIPS_IN_FLIGHT,
        CONF_MAX_ATTEMPTS: DEFAULT_MAX_ATTEMPTS,
        CONF_ALERTS_ENABLED: True,
        CONF_MIN_RISK_LEVEL: DEFAULT_MIN_RISK_LEVEL,
        CONF_NOTIFY_ON_ACTIVITY_TYPES: [],
        CONF_NOTIFY_ON_MOTION: False,
        CONF_TRIGGER_CLASSES: list(DEFAULT_TRIGGER_CLASSES),
        CONF_ALERT_HOLD_S: DEFAULT_ALERT_HOLD_S,
        CONF_ALERT_COOLDOWN_S: DEFAULT_ALERT_COOLDOWN_S,
        CONF_LIVE_ALERTS: DEFAULT_LIVE_ALERTS,
        CONF_GROUP_WINDOW_S: DEFAULT_GROUP_WINDOW_S,
        CONF_CAMERA_GROUPS: "",
        CONF_INCIDENT_GAP_S: DEFAULT_INCIDENT_GAP_S,
        CONF_NOTIFY_SERVICES: [],
        CONF_PERSISTENT_NOTIFICATION: True,
        CONF_LINK_EXPIRY_HOURS: DEFAULT_LINK_EXPIRY_HOURS,
        CONF_MQTT_ENABLED: False,
        CONF_MQTT_TOPIC_PREFIX: DEFAULT_MQTT_TOPIC_PREFIX,
        CONF_MQTT_QOS: DEFAULT_MQTT_QOS,
        CONF_MQTT_RETAIN: False,
        CONF_MQTT_SNAPSHOT: False,
        CONF_FILTER_CLASSES: list(DEFAULT_FILTER_CLASSES),
        CONF_FILTER_MIN_CONFIDENCE: DEFAULT_FILTER_MIN_CONFIDENCE,
        CONF_FILTER_MIN_BOX_HEIGHT: DEFAULT_FILTER_MIN_BOX_HEIGHT,
        CONF_FILTER_MIN_HITS: DEFAULT_FILTER_MIN_HITS,
        CONF_FILTER_SAMPLE_INTERVAL_S: DEFAULT_FILTER_SAMPLE_INTERVAL_S,
        CONF_FILTER_MAX_FRAMES: DEFAULT_FILTER_MAX_FRAMES,
        CONF_FILTER_EARLY_EXIT: True,
    }


def default_vlm_options() -> dict[str, Any]:
    """Vision model options before the user configured one (disabled)."""
    defaults = VLMSettings(base_url=DEFAULT_VLM_BASE_URL, model=DEFAULT_VLM_MODEL)
    return {
        CONF_VLM_ENABLED: False,
        CONF_VLM_BASE_URL: DEFAULT_VLM_BASE_URL,
        CONF_VLM_MODEL: DEFAULT_VLM_MODEL,
        CONF_VLM_RUN_MODE: VLMRunMode.TRIGGER_ONLY.value,
        CONF_VLM_MAX_FRAMES: defaults.max_frames,
        CONF_VLM_MAX_IMAGE_SIDE: defaults.max_image_side,
        CONF_VLM_JPEG_QUALITY: defaults.jpeg_quality,
        CONF_VLM_IMAGE_DETAIL: defaults.image_detail,
        CONF_VLM_REQUEST_TIMEOUT_S: defaults.request_timeout_s,
        CONF_VLM_MAX_OUTPUT_TOKENS: defaults.max_output_tokens,
        CONF_VLM_TEMPERATURE: defaults.temperature,
        CONF_VLM_PRICE_PROMPT: 0.0,
        CONF_VLM_PRICE_COMPLETION: 0.0,
        CONF_VLM_MAX_CALLS_PER_DAY: 0,
        CONF_VLM_MAX_TOKENS_PER_DAY: 0,
    }


# -- checks --------------------------------------------------------------------------------


async def async_check_vision_model(hass: HomeAssistant, settings: VLMSettings) -> str | None:
    """A real call to the vision model; the form's error key when it fails, else None."""
    try:
        await validate_connection(settings, get_async_client(hass))
    except VLMError as err:
        return err.reason if err.reason in ("invalid_auth", "model_not_found") else "cannot_connect"
    return None


# -- the vision model backend ----------------------------------------------------------------


@functools.cache
def ai_task_available() -> bool:
    """True when the running Home Assistant has AI Task (2025.8+)."""
    try:
        import homeassistant.components.ai_task  # noqa: F401
    except ImportError:
        return False
    return True


def vision_backend_fields() -> dict[Any, Any]:
    """The backend choice and the AI Task entity; nothing where HA has no AI Task."""
    if not ai_task_available():
        return {}
    return {
        vol.Required(CONF_VLM_BACKEND, default=VLM_BACKEND_OPENAI): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[VLM_BACKEND_OPENAI, VLM_BACKEND_AI_TASK],
                mode=selector.SelectSelectorMode.LIST,
                translation_key="vlm_backend",
            )
        ),
        vol.Optional(CONF_VLM_AI_TASK_ENTITY): selector.EntitySelector(
            selector.EntitySelectorConfig(domain="ai_task")
        ),
    }


def check_ai_task_entity(hass: HomeAssistant, entity_id: str | None) -> str | None:
    """The form error when the AI Task entity (empty: HA's preferred one) is missing or
    cannot take images, else None."""
    from ..ha_ai_task import entity_problem  # only where AI Task exists

    return entity_problem(hass, entity_id)
