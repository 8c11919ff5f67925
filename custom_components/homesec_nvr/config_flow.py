"""Config flow (hub), options flow (pipeline settings) and camera subentry flows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import selector
from homeassistant.helpers.httpx_client import get_async_client
from yarl import URL

from .cameras.frigate import frigate_client, mqtt_ready
from .cameras.rtsp import CameraStreamError, async_stream_url, rtsp_settings
from .const import (
    CONF_ALERT_HOLD_S,
    CONF_ALERTS_ENABLED,
    CONF_CAMERA_CONTEXT,
    CONF_CAMERA_ENTITY,
    CONF_DELETE_AFTER_STORE,
    CONF_DETECT_FPS,
    CONF_DETECT_URL,
    CONF_DETECT_WIDTH,
    CONF_DOWNLOAD_WINDOW_S,
    CONF_FILTER,
    CONF_FILTER_CLASSES,
    CONF_FILTER_EARLY_EXIT,
    CONF_FILTER_MAX_FRAMES,
    CONF_FILTER_MIN_BOX_HEIGHT,
    CONF_FILTER_MIN_CONFIDENCE,
    CONF_FILTER_MIN_HITS,
    CONF_FILTER_MODEL_PATH,
    CONF_FILTER_SAMPLE_INTERVAL_S,
    CONF_FOLDER,
    CONF_FRIGATE_MODE,
    CONF_MASKS,
    CONF_MAX_ATTEMPTS,
    CONF_MAX_CLIP_S,
    CONF_MAX_CLIPS_IN_FLIGHT,
    CONF_MAX_STORAGE_GB,
    CONF_MIN_AREA_PERCENT,
    CONF_MIN_CLIP_S,
    CONF_MIN_RISK_LEVEL,
    CONF_MOTION_THRESHOLD,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_NOTIFY_ON_MOTION,
    CONF_NOTIFY_SERVICES,
    CONF_PADDING_S,
    CONF_PER_CAMERA_ALERT,
    CONF_PERSISTENT_NOTIFICATION,
    CONF_POLL_INTERVAL_S,
    CONF_POST_ROLL_S,
    CONF_PRE_ROLL_S,
    CONF_RETENTION_DAYS,
    CONF_STABLE_TIME_S,
    CONF_STORAGE_PATH,
    CONF_STREAM_URL,
    CONF_TOPIC_PREFIX,
    CONF_TRIGGER_CLASSES,
    CONF_VERIFY_SSL,
    CONF_VLM_API_KEY,
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
    CONF_VLM_RESPONSE_LANGUAGE,
    CONF_VLM_RUN_MODE,
    CONF_VLM_TEMPERATURE,
    CONF_WRITE_DESCRIPTION,
    DEFAULT_ALERT_HOLD_S,
    DEFAULT_FILTER_CLASSES,
    DEFAULT_FILTER_MAX_FRAMES,
    DEFAULT_FILTER_MIN_BOX_HEIGHT,
    DEFAULT_FILTER_MIN_CONFIDENCE,
    DEFAULT_FILTER_MIN_HITS,
    DEFAULT_FILTER_SAMPLE_INTERVAL_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CLIPS_IN_FLIGHT,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_MIN_RISK_LEVEL,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_STABLE_TIME_S,
    DEFAULT_STORAGE_SUBDIR,
    DEFAULT_TRIGGER_CLASSES,
    DEFAULT_VLM_BASE_URL,
    DEFAULT_VLM_MODEL,
    DOMAIN,
    FILTER_FRIGATE,
    FILTER_NONE,
    FILTER_ONNX,
    RTSP_CLIPS_DIR,
    SECTION_MOTION,
    SECTION_OBJECT_FILTER,
    SUBENTRY_FRIGATE,
    SUBENTRY_LOCAL_FOLDER,
    SUBENTRY_RTSP,
)
from .core.filters.coco import COCO80_NAMES
from .core.models import ActivityType, RiskLevel, VLMRunMode
from .core.sources import frigate_filters as match
from .core.sources.frigate_client import FrigateError, FrigateServerInfo
from .core.sources.rtsp import RtspProbeError, probe_stream, redact_url
from .core.vlm.openai_compatible import VLMError, VLMSettings, validate_connection
from .object_filters import async_validate_model
from .schema_compat import vol
from .settings import INHERIT, model_path, validate_per_camera_alert, vlm_settings_from

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


def default_storage_path(hass: HomeAssistant) -> str:
    """HA's media folder (`local` media dir) with `homesec/` inside it."""
    media_dirs = getattr(hass.config, "media_dirs", {}) or {}
    base = media_dirs.get("local") or hass.config.path("media")
    return str(Path(base) / DEFAULT_STORAGE_SUBDIR)


def check_storage_writable(path_text: str) -> str | None:
    """Blocking: create the folder if needed and prove it is writable. Error key or None."""
    path = Path(path_text)
    if not path.is_absolute():
        return "path_not_absolute"
    probe = path / f".homesec-write-test-{uuid.uuid4().hex}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError:
        return "storage_not_writable"
    return None


def check_folder_readable(path_text: str) -> str | None:
    """Blocking: the watched folder exists, is a folder and can be listed. Error key or None."""
    path = Path(path_text)
    if not path.is_absolute():
        return "path_not_absolute"
    if not path.exists():
        return "folder_not_found"
    if not path.is_dir():
        return "folder_not_a_directory"
    try:
        os.listdir(path)
    except OSError:
        return "folder_unreadable"
    return None


def _risk_selector(with_inherit: bool) -> selector.SelectSelector:
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


def _activity_selector() -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[a.value for a in ActivityType],
            multiple=True,
            mode=selector.SelectSelectorMode.DROPDOWN,
            translation_key="activity_type",
        )
    )


def _classes_selector(options: list[str] | None = None) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options or COMMON_TRIGGER_CLASSES,
            multiple=True,
            custom_value=True,
            mode=selector.SelectSelectorMode.DROPDOWN,
        )
    )


def _number(
    minimum: float, maximum: float, step: float, unit: str | None = None
) -> selector.NumberSelector:
    config = selector.NumberSelectorConfig(
        min=minimum, max=maximum, step=step, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


def _hub_schema(hass: HomeAssistant, values: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(
                CONF_STORAGE_PATH,
                default=values.get(CONF_STORAGE_PATH, default_storage_path(hass)),
            ): selector.TextSelector(),
            vol.Required(
                CONF_RETENTION_DAYS,
                default=values.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS),
            ): _number(0, 3650, 1, "d"),
            vol.Required(
                CONF_MAX_STORAGE_GB,
                default=values.get(CONF_MAX_STORAGE_GB, DEFAULT_MAX_STORAGE_GB),
            ): _number(0, 100000, 0.5, "GB"),
        }
    )


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


def _filter_fields(hub: bool, values: Mapping[str, Any] | None = None) -> dict[Any, Any]:
    """Object-filter fields: hub defaults (required, showing `values`) or camera overrides
    (all optional: empty means the hub's value)."""
    current = values or {}

    def key(name: str, default: Any) -> vol.Marker:
        return vol.Required(name, default=current.get(name, default)) if hub else vol.Optional(name)

    return {
        vol.Optional(CONF_FILTER_MODEL_PATH): selector.TextSelector(),
        key(CONF_FILTER_CLASSES, list(DEFAULT_FILTER_CLASSES)): _classes_selector(
            list(COCO80_NAMES)
        ),
        key(CONF_FILTER_MIN_CONFIDENCE, DEFAULT_FILTER_MIN_CONFIDENCE): _number(0.05, 1, 0.05),
        key(CONF_FILTER_MIN_BOX_HEIGHT, DEFAULT_FILTER_MIN_BOX_HEIGHT): _number(0, 1, 0.01),
        key(CONF_FILTER_MIN_HITS, DEFAULT_FILTER_MIN_HITS): _number(1, 50, 1),
        key(CONF_FILTER_SAMPLE_INTERVAL_S, DEFAULT_FILTER_SAMPLE_INTERVAL_S): _number(
            0.1, 60, 0.1, "s"
        ),
        key(CONF_FILTER_MAX_FRAMES, DEFAULT_FILTER_MAX_FRAMES): _number(1, 500, 1),
        (
            vol.Required(CONF_FILTER_EARLY_EXIT, default=current.get(CONF_FILTER_EARLY_EXIT, True))
            if hub
            else vol.Optional(CONF_FILTER_EARLY_EXIT)
        ): (bool if hub else _inherit_on_off("filter_early_exit")),
    }


def _run_mode_selector(with_inherit: bool) -> selector.SelectSelector:
    options = [m.value for m in VLMRunMode]
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[INHERIT, *options] if with_inherit else options,
            mode=selector.SelectSelectorMode.DROPDOWN,
            translation_key="vlm_run_mode",
        )
    )


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


def _inherit_on_off(translation_key: str) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[INHERIT, "on", "off"],
            mode=selector.SelectSelectorMode.DROPDOWN,
            translation_key=translation_key,
        )
    )


def _pipeline_fields(values: Mapping[str, Any]) -> dict[Any, Any]:
    return {
        vol.Required(CONF_MAX_CLIPS_IN_FLIGHT, default=values[CONF_MAX_CLIPS_IN_FLIGHT]): _number(
            1, 16, 1
        ),
        vol.Required(CONF_MAX_ATTEMPTS, default=values[CONF_MAX_ATTEMPTS]): _number(1, 10, 1),
        vol.Required(CONF_RETENTION_DAYS, default=values[CONF_RETENTION_DAYS]): _number(
            0, 3650, 1, "d"
        ),
        vol.Required(CONF_MAX_STORAGE_GB, default=values[CONF_MAX_STORAGE_GB]): _number(
            0, 100000, 0.5, "GB"
        ),
    }


def _alert_fields(values: Mapping[str, Any]) -> dict[Any, Any]:
    return {
        vol.Required(CONF_ALERTS_ENABLED, default=values[CONF_ALERTS_ENABLED]): bool,
        vol.Required(CONF_MIN_RISK_LEVEL, default=values[CONF_MIN_RISK_LEVEL]): _risk_selector(
            with_inherit=False
        ),
        vol.Optional(CONF_NOTIFY_ON_ACTIVITY_TYPES): _activity_selector(),
        vol.Required(CONF_NOTIFY_ON_MOTION, default=values[CONF_NOTIFY_ON_MOTION]): bool,
        vol.Required(CONF_TRIGGER_CLASSES, default=values[CONF_TRIGGER_CLASSES]): (
            _classes_selector()
        ),
        vol.Required(CONF_ALERT_HOLD_S, default=values[CONF_ALERT_HOLD_S]): _number(
            0, 3600, 1, "s"
        ),
    }


def _notification_fields(values: Mapping[str, Any], services: list[str]) -> dict[Any, Any]:
    return {
        vol.Optional(CONF_NOTIFY_SERVICES): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[f"notify.{s}" for s in services],
                multiple=True,
                custom_value=True,
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        ),
        vol.Required(
            CONF_PERSISTENT_NOTIFICATION, default=values[CONF_PERSISTENT_NOTIFICATION]
        ): bool,
    }


# The options pages (menu order) and the keys each one saves.
OPTION_PAGES: dict[str, tuple[str, ...]] = {
    "pipeline": (
        CONF_MAX_CLIPS_IN_FLIGHT,
        CONF_MAX_ATTEMPTS,
        CONF_RETENTION_DAYS,
        CONF_MAX_STORAGE_GB,
    ),
    "alerts": (
        CONF_ALERTS_ENABLED,
        CONF_MIN_RISK_LEVEL,
        CONF_NOTIFY_ON_ACTIVITY_TYPES,
        CONF_NOTIFY_ON_MOTION,
        CONF_TRIGGER_CLASSES,
        CONF_ALERT_HOLD_S,
    ),
    "notifications": (CONF_NOTIFY_SERVICES, CONF_PERSISTENT_NOTIFICATION),
    "object_filter": FILTER_KEYS,
}
OPTIONAL_LISTS = (CONF_NOTIFY_SERVICES, CONF_NOTIFY_ON_ACTIVITY_TYPES)


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
        CONF_NOTIFY_SERVICES: [],
        CONF_PERSISTENT_NOTIFICATION: True,
        CONF_FILTER_CLASSES: list(DEFAULT_FILTER_CLASSES),
        CONF_FILTER_MIN_CONFIDENCE: DEFAULT_FILTER_MIN_CONFIDENCE,
        CONF_FILTER_MIN_BOX_HEIGHT: DEFAULT_FILTER_MIN_BOX_HEIGHT,
        CONF_FILTER_MIN_HITS: DEFAULT_FILTER_MIN_HITS,
        CONF_FILTER_SAMPLE_INTERVAL_S: DEFAULT_FILTER_SAMPLE_INTERVAL_S,
        CONF_FILTER_MAX_FRAMES: DEFAULT_FILTER_MAX_FRAMES,
        CONF_FILTER_EARLY_EXIT: True,
    }


async def async_check_vision_model(hass: HomeAssistant, settings: VLMSettings) -> str | None:
    """A real call to the vision model; the form's error key when it fails, else None."""
    try:
        await validate_connection(settings, get_async_client(hass))
    except VLMError as err:
        return err.reason if err.reason in ("invalid_auth", "model_not_found") else "cannot_connect"
    return None


class HomeSecConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up the HomeSec hub (one per Home Assistant)."""

    VERSION = 1
    MINOR_VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Storage location and retention."""
        await self.async_set_unique_id(DOMAIN)
        self._abort_if_unique_id_configured()
        errors: dict[str, str] = {}
        if user_input is not None:
            path = str(user_input[CONF_STORAGE_PATH]).strip()
            error = await self.hass.async_add_executor_job(check_storage_writable, path)
            if error:
                errors[CONF_STORAGE_PATH] = error
            else:
                options = default_options()
                options[CONF_RETENTION_DAYS] = user_input[CONF_RETENTION_DAYS]
                options[CONF_MAX_STORAGE_GB] = user_input[CONF_MAX_STORAGE_GB]
                return self.async_create_entry(
                    title="HomeSec", data={CONF_STORAGE_PATH: path}, options=options
                )
        return self.async_show_form(
            step_id="user",
            data_schema=_hub_schema(self.hass, user_input or {}),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the storage location."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            path = str(user_input[CONF_STORAGE_PATH]).strip()
            error = await self.hass.async_add_executor_job(check_storage_writable, path)
            if error:
                errors[CONF_STORAGE_PATH] = error
            else:
                # The update listener reloads the hub (once).
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, CONF_STORAGE_PATH: path}
                )
                return self.async_abort(reason="reconfigure_successful")
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_STORAGE_PATH,
                    default=(user_input or entry.data).get(CONF_STORAGE_PATH, ""),
                ): selector.TextSelector()
            }
        )
        return self.async_show_form(step_id="reconfigure", data_schema=schema, errors=errors)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The vision model server refused the API key."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A new API key, checked with a real call before it is saved."""
        entry = self._get_reauth_entry()
        current = {**default_vlm_options(), **entry.options}
        errors: dict[str, str] = {}
        if user_input is not None:
            api_key = str(user_input.get(CONF_VLM_API_KEY) or "").strip() or None
            settings = vlm_settings_from(
                {**current, CONF_VLM_API_KEY: api_key}, self.hass.config.language
            )
            if error := await async_check_vision_model(self.hass, settings):
                errors["base"] = error
            else:
                # The entry's update listener reloads the hub (once): no second reload here.
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, CONF_VLM_API_KEY: api_key}
                )
                return self.async_abort(reason="reauth_successful")
        schema = vol.Schema(
            {
                vol.Optional(CONF_VLM_API_KEY): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                )
            }
        )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "base_url": str(current[CONF_VLM_BASE_URL]),
                "model": str(current[CONF_VLM_MODEL]),
            },
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> HomeSecOptionsFlow:
        """Pipeline settings."""
        return HomeSecOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Cameras are subentries, one type per clip source."""
        return {
            SUBENTRY_LOCAL_FOLDER: LocalFolderSubentryFlow,
            SUBENTRY_RTSP: RtspSubentryFlow,
            SUBENTRY_FRIGATE: FrigateSubentryFlow,
        }


class HomeSecOptionsFlow(OptionsFlow):
    """Concurrency, retention, alert-policy defaults and notifications."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose what to configure."""
        return self.async_show_menu(step_id="init", menu_options=[*OPTION_PAGES, "vision_model"])

    async def async_step_pipeline(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Concurrency, retries and retention."""
        return await self._page("pipeline", user_input)

    async def async_step_alerts(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Alert-policy defaults (cameras may override them)."""
        return await self._page("alerts", user_input)

    async def async_step_notifications(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where alerts go."""
        return await self._page("notifications", user_input)

    async def async_step_object_filter(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Object filter defaults (cameras may override them)."""
        return await self._page("object_filter", user_input)

    async def _page(self, step_id: str, user_input: dict[str, Any] | None) -> ConfigFlowResult:
        """One options page: its fields, validated, saved over the other pages' values."""
        errors: dict[str, str] = {}
        current = {**default_options(), **self.config_entry.options}
        if user_input is not None:
            errors = await self._validate_page(user_input)
            if not errors:
                # A list cleared in the UI is left out of the submitted form.
                cleared: dict[str, list[str]] = {
                    k: [] for k in OPTIONAL_LISTS if k in OPTION_PAGES[step_id]
                }
                if CONF_FILTER_MODEL_PATH in OPTION_PAGES[step_id] and not user_input.get(
                    CONF_FILTER_MODEL_PATH
                ):
                    current.pop(CONF_FILTER_MODEL_PATH, None)
                return self.async_create_entry(data={**current, **cleared, **user_input})
        values = {**current, **(user_input or {})}
        fields: dict[Any, Any]
        if step_id == "pipeline":
            fields = _pipeline_fields(values)
        elif step_id == "alerts":
            fields = _alert_fields(values)
        elif step_id == "notifications":
            services = sorted(self.hass.services.async_services_for_domain("notify"))
            fields = _notification_fields(values, services)
        else:
            fields = _filter_fields(hub=True, values=values)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(vol.Schema(fields), values),
            errors=errors,
        )

    async def _validate_page(self, user_input: dict[str, Any]) -> dict[str, str]:
        missing = [
            s
            for s in user_input.get(CONF_NOTIFY_SERVICES, [])
            if not self.hass.services.has_service("notify", s.removeprefix("notify."))
        ]
        if missing:
            return {CONF_NOTIFY_SERVICES: "notify_service_not_found"}
        if model := str(user_input.get(CONF_FILTER_MODEL_PATH) or "").strip():
            error, _info = await async_validate_model(self.hass, model)
            if error:
                return {CONF_FILTER_MODEL_PATH: error}
            user_input[CONF_FILTER_MODEL_PATH] = model
        else:
            user_input.pop(CONF_FILTER_MODEL_PATH, None)
        return {}

    async def async_step_vision_model(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The OpenAI-compatible vision model, checked with a real call before saving."""
        entry = self.config_entry
        errors: dict[str, str] = {}
        current = {**default_vlm_options(), **entry.options}
        stored_key = entry.data.get(CONF_VLM_API_KEY)
        if user_input is not None:
            values = {**user_input}
            api_key = str(values.pop(CONF_VLM_API_KEY, "") or "").strip() or None
            if values.get(CONF_VLM_ENABLED) and (
                error := await async_check_vision_model(
                    self.hass,
                    vlm_settings_from(
                        {**values, CONF_VLM_API_KEY: api_key}, self.hass.config.language
                    ),
                )
            ):
                errors["base"] = error
            if not errors:
                # The key is a secret: it lives in the entry data, never in the options.
                # Data and options change in one update, so the hub reloads once.
                options = {**current, **values}
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, CONF_VLM_API_KEY: api_key}, options=options
                )
                return self.async_create_entry(data=options)
        values = {**current, **(user_input or {}), CONF_VLM_API_KEY: stored_key or ""}
        schema = vol.Schema(
            {
                vol.Required(CONF_VLM_ENABLED): bool,
                vol.Required(CONF_VLM_BASE_URL): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
                ),
                vol.Optional(CONF_VLM_API_KEY): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                ),
                vol.Required(CONF_VLM_MODEL): selector.TextSelector(),
                vol.Required(CONF_VLM_RUN_MODE): _run_mode_selector(with_inherit=False),
                vol.Optional(CONF_VLM_RESPONSE_LANGUAGE): selector.LanguageSelector(),
                vol.Required(CONF_VLM_MAX_FRAMES): _number(1, 32, 1),
                vol.Required(CONF_VLM_MAX_IMAGE_SIDE): _number(256, 4096, 64, "px"),
                vol.Required(CONF_VLM_JPEG_QUALITY): _number(30, 100, 1),
                vol.Required(CONF_VLM_IMAGE_DETAIL): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=["auto", "low", "high"],
                        mode=selector.SelectSelectorMode.DROPDOWN,
                        translation_key="vlm_image_detail",
                    )
                ),
                vol.Required(CONF_VLM_REQUEST_TIMEOUT_S): _number(5, 600, 1, "s"),
                vol.Required(CONF_VLM_MAX_OUTPUT_TOKENS): _number(128, 16384, 1),
                vol.Required(CONF_VLM_TEMPERATURE): _number(0, 2, 0.05),
                vol.Required(CONF_VLM_PRICE_PROMPT): _number(0, 1000, 0.01),
                vol.Required(CONF_VLM_PRICE_COMPLETION): _number(0, 1000, 0.01),
                vol.Required(CONF_VLM_MAX_CALLS_PER_DAY): _number(0, 100000, 1),
                vol.Required(CONF_VLM_MAX_TOKENS_PER_DAY): _number(0, 100000000, 1000),
            }
        )
        return self.async_show_form(
            step_id="vision_model",
            data_schema=self.add_suggested_values_to_schema(schema, values),
            errors=errors,
        )


class _CameraSubentryFlow(ConfigSubentryFlow):
    """A camera subentry whose add and reconfigure steps show the same form."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add a camera."""
        return await self._form("user", user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a camera."""
        return await self._form("reconfigure", user_input)

    async def _form(self, step_id: str, user_input: dict[str, Any] | None) -> SubentryFlowResult:
        raise NotImplementedError


class LocalFolderSubentryFlow(_CameraSubentryFlow):
    """Add or reconfigure a watched-folder camera."""

    async def _form(self, step_id: str, user_input: dict[str, Any] | None) -> SubentryFlowResult:
        entry = self._get_entry()
        current = self._get_reconfigure_subentry() if step_id == "reconfigure" else None
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _flatten_section(user_input)
            folder = os.path.normpath(str(user_input[CONF_FOLDER]).strip())  # noqa: ASYNC240
            name = str(user_input[CONF_NAME]).strip()
            error = await self.hass.async_add_executor_job(check_folder_readable, folder)
            filter_error = await async_check_filter(self.hass, entry, user_input)
            others = [
                s
                for s in entry.subentries.values()
                if current is None or s.subentry_id != current.subentry_id
            ]
            if error:
                errors[CONF_FOLDER] = error
            elif any(s.unique_id == folder for s in others):
                errors[CONF_FOLDER] = "folder_already_used"
            elif not name:
                errors[CONF_NAME] = "name_required"
            elif any(s.title.casefold() == name.casefold() for s in others):
                errors[CONF_NAME] = "name_already_used"
            elif filter_error is not None:
                errors[filter_error[0]] = filter_error[1]
            else:
                data = {
                    CONF_NOTIFY_ON_ACTIVITY_TYPES: [],  # left out of the form when cleared
                    **user_input,
                    CONF_NAME: name,
                    CONF_FOLDER: folder,
                }
                if current is not None:
                    return self.async_update_and_abort(
                        entry, current, title=name, data=data, unique_id=folder
                    )
                return self.async_create_entry(title=name, data=data, unique_id=folder)
        values: Mapping[str, Any] = user_input or (current.data if current else {})
        suggested = {
            **values,
            SECTION_OBJECT_FILTER: {k: values[k] for k in FILTER_KEYS if k in values},
        }
        schema = vol.Schema(
            {
                vol.Required(CONF_NAME, default=values.get(CONF_NAME, "")): str,
                vol.Required(CONF_FOLDER, default=values.get(CONF_FOLDER, "")): str,
                vol.Required(
                    CONF_STABLE_TIME_S,
                    default=values.get(CONF_STABLE_TIME_S, DEFAULT_STABLE_TIME_S),
                ): _number(0.5, 600, 0.5, "s"),
                vol.Required(
                    CONF_POLL_INTERVAL_S,
                    default=values.get(CONF_POLL_INTERVAL_S, DEFAULT_POLL_INTERVAL_S),
                ): _number(0.5, 600, 0.5, "s"),
                vol.Required(
                    CONF_DELETE_AFTER_STORE, default=values.get(CONF_DELETE_AFTER_STORE, False)
                ): bool,
                **_camera_fields(values, [FILTER_NONE, FILTER_ONNX]),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )


def _camera_fields(values: Mapping[str, Any], filters: list[str]) -> dict[Any, Any]:
    """The per-camera fields every source shares: alert overrides, vision model, filter."""
    return {
        vol.Required(
            CONF_MIN_RISK_LEVEL, default=values.get(CONF_MIN_RISK_LEVEL, INHERIT)
        ): _risk_selector(with_inherit=True),
        vol.Optional(CONF_NOTIFY_ON_ACTIVITY_TYPES): _activity_selector(),
        vol.Required(
            CONF_NOTIFY_ON_MOTION, default=values.get(CONF_NOTIFY_ON_MOTION, INHERIT)
        ): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[INHERIT, "on", "off"],
                mode=selector.SelectSelectorMode.DROPDOWN,
                translation_key="notify_on_motion",
            )
        ),
        vol.Required(
            CONF_VLM_RUN_MODE, default=values.get(CONF_VLM_RUN_MODE, INHERIT)
        ): _run_mode_selector(with_inherit=True),
        vol.Optional(CONF_CAMERA_CONTEXT): selector.TextSelector(
            selector.TextSelectorConfig(multiline=True)
        ),
        vol.Required(
            CONF_FILTER, default=values.get(CONF_FILTER, filters[0])
        ): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=filters,
                mode=selector.SelectSelectorMode.DROPDOWN,
                translation_key="filter",
            )
        ),
        vol.Optional(SECTION_OBJECT_FILTER): section(
            vol.Schema(_filter_fields(hub=False)), {"collapsed": True}
        ),
    }


async def async_check_filter(
    hass: HomeAssistant, entry: ConfigEntry, data: dict[str, Any]
) -> tuple[str, str] | None:
    """(field, error) when a camera's ONNX filter cannot work."""
    if data.get(CONF_FILTER) != FILTER_ONNX:
        return None
    path = model_path(data, entry.options)
    if path is None:
        return CONF_FILTER, "model_not_configured"
    error, _info = await async_validate_model(hass, path)
    if error is None:
        return None
    return CONF_FILTER, error


def _flatten_section(user_input: dict[str, Any]) -> dict[str, Any]:
    """Move the sections' fields to the top level (how they are stored)."""
    data = dict(user_input)
    for name in (SECTION_OBJECT_FILTER, SECTION_MOTION):
        section_values = data.pop(name, None) or {}
        data.update({k: v for k, v in section_values.items() if v not in (None, "", [])})
    return data


FRIGATE_MATCH_DEFAULTS: dict[str, Any] = {
    CONF_FRIGATE_MODE: "events",
    match.CONF_CAMERAS: [],
    match.CONF_LABELS: ["person"],
    match.CONF_SUB_LABELS: [],
    match.CONF_ZONES: [],
    match.CONF_MIN_SCORE: 0.7,
    match.CONF_MIN_DURATION_S: 1.0,
    match.CONF_SEVERITIES: list(match.DEFAULT_SEVERITIES),
    CONF_PADDING_S: 5,
    CONF_DOWNLOAD_WINDOW_S: 90,
    CONF_WRITE_DESCRIPTION: False,
}


def _multi(options: list[str], translation_key: str | None = None) -> selector.SelectSelector:
    config = selector.SelectSelectorConfig(
        options=options,
        multiple=True,
        custom_value=True,
        mode=selector.SelectSelectorMode.DROPDOWN,
    )
    if translation_key:
        config["translation_key"] = translation_key
    return selector.SelectSelector(config)


class FrigateSubentryFlow(ConfigSubentryFlow):
    """Add or reconfigure a Frigate NVR: connection first, then what to take from it."""

    def __init__(self) -> None:
        self._connection: dict[str, Any] = {}
        self._server: FrigateServerInfo | None = None
        self._per_camera_error = ""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """The Frigate server."""
        return await self._connection_step("user", user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change the server or what to take from it."""
        return await self._connection_step("reconfigure", user_input)

    async def _connection_step(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        current = self._get_reconfigure_subentry() if step_id == "reconfigure" else None
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**user_input, CONF_URL: str(user_input[CONF_URL]).strip().rstrip("/")}
            others = [
                s
                for s in self._get_entry().subentries.values()
                if current is None or s.subentry_id != current.subentry_id
            ]
            if not mqtt_ready(self.hass):
                errors["base"] = "mqtt_not_configured"
            elif any(s.unique_id == f"frigate:{data[CONF_URL]}" for s in others):
                errors[CONF_URL] = "frigate_already_configured"
            else:
                try:
                    client, session = frigate_client(self.hass, data, auto_cleanup=False)
                    try:
                        self._server = await client.validate()
                    finally:
                        session.detach()
                except FrigateError as err:
                    errors["base"] = (
                        err.reason
                        if err.reason in ("invalid_auth", "not_frigate")
                        else "cannot_connect"
                    )
            if not errors:
                self._connection = data
                return await self.async_step_cameras()
        values: Mapping[str, Any] = user_input or (current.data if current else {})
        schema = vol.Schema(
            {
                vol.Required(CONF_URL): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
                ),
                vol.Optional(CONF_USERNAME): selector.TextSelector(),
                vol.Optional(CONF_PASSWORD): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                ),
                vol.Required(CONF_VERIFY_SSL, default=True): bool,
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, values),
            errors=errors,
        )

    async def async_step_cameras(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Which Frigate cameras, events and filters; how HomeSec treats the clips."""
        assert self._server is not None
        entry = self._get_entry()
        current = self._get_reconfigure_subentry() if self.source == "reconfigure" else None
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _flatten_section(user_input)
            filter_error = await async_check_filter(self.hass, entry, user_input)
            self._per_camera_error = ""
            try:
                user_input[CONF_PER_CAMERA_ALERT] = validate_per_camera_alert(
                    user_input.get(CONF_PER_CAMERA_ALERT)
                )
            except ValueError as err:
                self._per_camera_error = str(err)
                errors[CONF_PER_CAMERA_ALERT] = "invalid_per_camera_alert"
            if filter_error is not None:
                errors[filter_error[0]] = filter_error[1]
            if not errors:
                data = {
                    **FRIGATE_MATCH_DEFAULTS,
                    CONF_NOTIFY_ON_ACTIVITY_TYPES: [],
                    **user_input,
                    **self._connection,
                }
                host = URL(self._connection[CONF_URL]).host or self._connection[CONF_URL]
                title = f"Frigate ({host})"
                unique_id = f"frigate:{self._connection[CONF_URL]}"
                if current is not None:
                    return self.async_update_and_abort(
                        entry, current, title=title, data=data, unique_id=unique_id
                    )
                return self.async_create_entry(title=title, data=data, unique_id=unique_id)
        config = self._server.config
        values: Mapping[str, Any] = {
            **FRIGATE_MATCH_DEFAULTS,
            CONF_TOPIC_PREFIX: config.mqtt_topic_prefix,
            **(current.data if current else {}),
            **(user_input or {}),
        }
        suggested = {
            **values,
            SECTION_OBJECT_FILTER: {k: values[k] for k in FILTER_KEYS if k in values},
        }
        zones = sorted({z for camera in config.cameras for z in camera.zones})
        schema = vol.Schema(
            {
                vol.Optional(match.CONF_CAMERAS): _multi([c.name for c in config.cameras]),
                vol.Required(CONF_FRIGATE_MODE): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=["events", "reviews"],
                        mode=selector.SelectSelectorMode.DROPDOWN,
                        translation_key="frigate_mode",
                    )
                ),
                vol.Optional(match.CONF_SEVERITIES): _multi(
                    list(match.SEVERITIES), "frigate_severity"
                ),
                vol.Optional(match.CONF_LABELS): _multi(list(COCO80_NAMES)),
                vol.Optional(match.CONF_SUB_LABELS): _multi([]),
                vol.Optional(match.CONF_ZONES): _multi(zones),
                vol.Required(match.CONF_MIN_SCORE): _number(0, 1, 0.01),
                vol.Required(match.CONF_MIN_DURATION_S): _number(0, 600, 0.5, "s"),
                vol.Required(CONF_PADDING_S): _number(0, 60, 1, "s"),
                vol.Required(CONF_DOWNLOAD_WINDOW_S): _number(15, 900, 5, "s"),
                vol.Required(CONF_TOPIC_PREFIX): selector.TextSelector(),
                vol.Required(CONF_WRITE_DESCRIPTION): bool,
                **_camera_fields(values, [FILTER_FRIGATE, FILTER_ONNX, FILTER_NONE]),
                vol.Optional(CONF_PER_CAMERA_ALERT): selector.ObjectSelector(),
            }
        )
        return self.async_show_form(
            step_id="cameras",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={
                "version": self._server.version,
                "error_detail": self._per_camera_error,
            },
        )


MOTION_KEYS = (
    CONF_DETECT_FPS,
    CONF_DETECT_WIDTH,
    CONF_MOTION_THRESHOLD,
    CONF_MIN_AREA_PERCENT,
    CONF_MASKS,
    CONF_PRE_ROLL_S,
    CONF_POST_ROLL_S,
    CONF_MAX_CLIP_S,
    CONF_MIN_CLIP_S,
)
MOTION_DEFAULTS: dict[str, Any] = {
    CONF_DETECT_FPS: 5,
    CONF_DETECT_WIDTH: 320,
    CONF_MOTION_THRESHOLD: 25,
    CONF_MIN_AREA_PERCENT: 0.5,
    CONF_PRE_ROLL_S: 3,
    CONF_POST_ROLL_S: 8,
    CONF_MAX_CLIP_S: 60,
    CONF_MIN_CLIP_S: 2,
}
PROBE_TIMEOUT_S = 10.0


class RtspSubentryFlow(_CameraSubentryFlow):
    """Add or reconfigure an RTSP camera (a stream URL or an existing HA camera entity)."""

    async def _validate(self, data: dict[str, Any]) -> tuple[str, str] | None:
        """(field, error) when the camera cannot work: the stream is opened for real."""
        try:
            url = await async_stream_url(self.hass, data)
            rtsp_settings(data, url, Path(self.hass.config.path(RTSP_CLIPS_DIR)))
        except CameraStreamError as err:
            return "base", err.reason
        except ValueError:
            return "base", "invalid_motion_settings"
        user, password = data.get(CONF_USERNAME), data.get(CONF_PASSWORD)
        for field, stream in ((CONF_STREAM_URL, url), (CONF_DETECT_URL, data.get(CONF_DETECT_URL))):
            if not stream:
                continue
            try:
                await probe_stream(str(stream), user, password, PROBE_TIMEOUT_S)
            except RtspProbeError as err:
                return ("base" if field == CONF_STREAM_URL else field), err.reason
        return await async_check_filter(self.hass, self._get_entry(), data)

    async def _form(self, step_id: str, user_input: dict[str, Any] | None) -> SubentryFlowResult:
        entry = self._get_entry()
        current = self._get_reconfigure_subentry() if step_id == "reconfigure" else None
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _flatten_section(user_input)
            name = str(data.get(CONF_NAME, "")).strip()
            others = [
                s
                for s in entry.subentries.values()
                if current is None or s.subentry_id != current.subentry_id
            ]
            unique_id = str(
                data.get(CONF_CAMERA_ENTITY) or redact_url(str(data.get(CONF_STREAM_URL, "")))
            )
            if not name:
                errors[CONF_NAME] = "name_required"
            elif any(s.title.casefold() == name.casefold() for s in others):
                errors[CONF_NAME] = "name_already_used"
            elif any(s.unique_id == unique_id for s in others):
                errors["base"] = "camera_already_configured"
            elif problem := await self._validate(data):
                errors[problem[0]] = problem[1]
            else:
                data = {
                    **MOTION_DEFAULTS,
                    CONF_NOTIFY_ON_ACTIVITY_TYPES: [],
                    **data,
                    CONF_NAME: name,
                }
                if current is not None:
                    return self.async_update_and_abort(
                        entry, current, title=name, data=data, unique_id=unique_id
                    )
                return self.async_create_entry(title=name, data=data, unique_id=unique_id)
        values: Mapping[str, Any] = {
            **MOTION_DEFAULTS,
            **(current.data if current else {}),
            **(_flatten_section(user_input) if user_input else {}),
        }
        suggested = {
            **values,
            SECTION_MOTION: {k: values[k] for k in MOTION_KEYS if k in values},
            SECTION_OBJECT_FILTER: {k: values[k] for k in FILTER_KEYS if k in values},
        }
        schema = vol.Schema(
            {
                vol.Required(CONF_NAME): str,
                vol.Optional(CONF_STREAM_URL): selector.TextSelector(),
                vol.Optional(CONF_CAMERA_ENTITY): selector.EntitySelector(
                    selector.EntitySelectorConfig(domain="camera")
                ),
                vol.Optional(CONF_USERNAME): selector.TextSelector(),
                vol.Optional(CONF_PASSWORD): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                ),
                vol.Optional(CONF_DETECT_URL): selector.TextSelector(),
                vol.Optional(SECTION_MOTION): section(
                    vol.Schema(
                        {
                            vol.Optional(CONF_DETECT_FPS): _number(1, 15, 1, "fps"),
                            vol.Optional(CONF_DETECT_WIDTH): _number(64, 1280, 16, "px"),
                            vol.Optional(CONF_MOTION_THRESHOLD): _number(1, 255, 1),
                            vol.Optional(CONF_MIN_AREA_PERCENT): _number(0.01, 100, 0.01, "%"),
                            vol.Optional(CONF_MASKS): selector.TextSelector(
                                selector.TextSelectorConfig(multiline=True)
                            ),
                            vol.Optional(CONF_PRE_ROLL_S): _number(0, 30, 1, "s"),
                            vol.Optional(CONF_POST_ROLL_S): _number(0, 120, 1, "s"),
                            vol.Optional(CONF_MAX_CLIP_S): _number(5, 600, 1, "s"),
                            vol.Optional(CONF_MIN_CLIP_S): _number(0, 60, 1, "s"),
                        }
                    ),
                    {"collapsed": True},
                ),
                **_camera_fields(values, [FILTER_NONE, FILTER_ONNX]),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )
