"""The options flow: a menu, one page per topic (pipeline, alerts, notifications, object
filter, vision model)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers import selector

from ..cameras.frigate import mqtt_ready
from ..const import (
    CONF_ALERT_COOLDOWN_S,
    CONF_ALERT_HOLD_S,
    CONF_ALERTS_ENABLED,
    CONF_CAMERA_GROUPS,
    CONF_FILTER_MODEL_PATH,
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
    DEFAULT_ALERT_COOLDOWN_S,
    DEFAULT_GROUP_WINDOW_S,
    DEFAULT_INCIDENT_GAP_S,
    DEFAULT_LINK_EXPIRY_HOURS,
    DEFAULT_LIVE_ALERTS,
    DEFAULT_MQTT_QOS,
    DEFAULT_MQTT_TOPIC_PREFIX,
    VLM_BACKEND_AI_TASK,
)
from ..core.camera_groups import parse_camera_groups
from ..ha_mqtt import valid_topic_prefix
from ..object_filters import async_validate_model
from ..schema_compat import vol
from ..settings import vlm_settings_from
from .camera_base import notes_too_long
from .email import EMAIL_DEFAULTS, SECRETS, async_check_email, email_schema, submitted
from .fields import (
    FILTER_KEYS,
    activity_selector,
    async_check_vision_model,
    check_ai_task_entity,
    classes_selector,
    default_options,
    default_vlm_options,
    filter_fields,
    number,
    risk_selector,
    run_mode_selector,
    vision_backend_fields,
)
from .ftp import async_check_ftp_server, ftp_server_fields
from .offsite import async_check_offsite, offsite_fields
from .prompt_preview import PromptPreviewSteps


def _pipeline_fields(values: Mapping[str, Any]) -> dict[Any, Any]:
    return {
        vol.Required(CONF_MAX_CLIPS_IN_FLIGHT, default=values[CONF_MAX_CLIPS_IN_FLIGHT]): number(
            1, 16, 1
        ),
        vol.Required(CONF_MAX_ATTEMPTS, default=values[CONF_MAX_ATTEMPTS]): number(1, 10, 1),
        vol.Required(CONF_RETENTION_DAYS, default=values[CONF_RETENTION_DAYS]): number(
            0, 3650, 1, "d"
        ),
        vol.Required(CONF_MAX_STORAGE_GB, default=values[CONF_MAX_STORAGE_GB]): number(
            0, 100000, 0.5, "GB"
        ),
    }


def _alert_fields(values: Mapping[str, Any]) -> dict[Any, Any]:
    return {
        vol.Required(CONF_ALERTS_ENABLED, default=values[CONF_ALERTS_ENABLED]): bool,
        vol.Required(CONF_MIN_RISK_LEVEL, default=values[CONF_MIN_RISK_LEVEL]): risk_selector(
            with_inherit=False
        ),
        vol.Optional(CONF_NOTIFY_ON_ACTIVITY_TYPES): activity_selector(),
        vol.Required(CONF_NOTIFY_ON_MOTION, default=values[CONF_NOTIFY_ON_MOTION]): bool,
        vol.Required(CONF_TRIGGER_CLASSES, default=values[CONF_TRIGGER_CLASSES]): (
            classes_selector()
        ),
        vol.Required(CONF_ALERT_HOLD_S, default=values[CONF_ALERT_HOLD_S]): number(0, 3600, 1, "s"),
        vol.Required(
            CONF_ALERT_COOLDOWN_S,
            default=values.get(CONF_ALERT_COOLDOWN_S, DEFAULT_ALERT_COOLDOWN_S),
        ): number(0, 3600, 1, "s"),
        vol.Required(
            CONF_LIVE_ALERTS, default=values.get(CONF_LIVE_ALERTS, DEFAULT_LIVE_ALERTS)
        ): bool,
        vol.Required(
            CONF_GROUP_WINDOW_S, default=values.get(CONF_GROUP_WINDOW_S, DEFAULT_GROUP_WINDOW_S)
        ): number(0, 600, 1, "s"),
        vol.Optional(CONF_CAMERA_GROUPS, default=values.get(CONF_CAMERA_GROUPS, "")): (
            selector.TextSelector(selector.TextSelectorConfig(multiline=True))
        ),
        vol.Required(
            CONF_INCIDENT_GAP_S, default=values.get(CONF_INCIDENT_GAP_S, DEFAULT_INCIDENT_GAP_S)
        ): number(0, 600, 1, "s"),
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
        vol.Required(
            CONF_LINK_EXPIRY_HOURS,
            default=values.get(CONF_LINK_EXPIRY_HOURS, DEFAULT_LINK_EXPIRY_HOURS),
        ): number(1, 8760, 1, "h"),
        vol.Required(CONF_MQTT_ENABLED, default=values.get(CONF_MQTT_ENABLED, False)): bool,
        vol.Required(
            CONF_MQTT_TOPIC_PREFIX,
            default=values.get(CONF_MQTT_TOPIC_PREFIX, DEFAULT_MQTT_TOPIC_PREFIX),
        ): str,
        vol.Required(CONF_MQTT_QOS, default=values.get(CONF_MQTT_QOS, DEFAULT_MQTT_QOS)): number(
            0, 2, 1
        ),
        vol.Required(CONF_MQTT_RETAIN, default=values.get(CONF_MQTT_RETAIN, False)): bool,
        vol.Required(CONF_MQTT_SNAPSHOT, default=values.get(CONF_MQTT_SNAPSHOT, False)): bool,
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
        CONF_ALERT_COOLDOWN_S,
        CONF_LIVE_ALERTS,
        CONF_GROUP_WINDOW_S,
        CONF_CAMERA_GROUPS,
        CONF_INCIDENT_GAP_S,
    ),
    "notifications": (
        CONF_NOTIFY_SERVICES,
        CONF_PERSISTENT_NOTIFICATION,
        CONF_LINK_EXPIRY_HOURS,
        CONF_MQTT_ENABLED,
        CONF_MQTT_TOPIC_PREFIX,
        CONF_MQTT_QOS,
        CONF_MQTT_RETAIN,
        CONF_MQTT_SNAPSHOT,
    ),
    "object_filter": FILTER_KEYS,
}
OPTIONAL_LISTS = (CONF_NOTIFY_SERVICES, CONF_NOTIFY_ON_ACTIVITY_TYPES)


class HomeSecOptionsFlow(PromptPreviewSteps, OptionsFlow):
    """Concurrency, retention, alert-policy defaults and notifications."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose what to configure."""
        return self.async_show_menu(
            step_id="init",
            menu_options=[
                *OPTION_PAGES,
                "email",
                "vision_model",
                "prompt_preview",
                "offsite",
                "ftp_server",
            ],
        )

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

    async def async_step_ftp_server(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where the FTP server for FTP cameras listens, and its limits."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = await async_check_ftp_server(self.hass, self.config_entry, user_input)
            if not errors:
                return self.async_create_entry(data={**self.config_entry.options, **user_input})
        values = {**self.config_entry.options, **(user_input or {})}
        schema = vol.Schema(ftp_server_fields(values))
        return self.async_show_form(
            step_id="ftp_server",
            data_schema=self.add_suggested_values_to_schema(schema, values),
            errors=errors,
        )

    async def async_step_offsite(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The off-site copy (Dropbox); turned on, the hub asks for the Dropbox sign-in."""
        errors: dict[str, str] = {}
        current = dict(self.config_entry.options)
        if user_input is not None:
            errors = await async_check_offsite(self.hass, user_input)
            if not errors:
                return self.async_create_entry(data={**current, **user_input})
        hub = getattr(self.config_entry, "runtime_data", None)
        cameras = {cid: cam.name for cid, cam in hub.cameras.items()} if hub is not None else {}
        fields = offsite_fields({**current, **(user_input or {})}, cameras)
        return self.async_show_form(
            step_id="offsite", data_schema=vol.Schema(fields), errors=errors
        )

    async def _page(self, step_id: str, user_input: dict[str, Any] | None) -> ConfigFlowResult:
        """One options page: its fields, validated, saved over the other pages' values."""
        errors: dict[str, str] = {}
        current = {**default_options(), **self.config_entry.options}
        if user_input is not None:
            errors = await self._validate_page(user_input)
            if not errors:
                # A list cleared in the UI is left out of the submitted form.
                cleared: dict[str, list[str] | str] = {
                    k: [] for k in OPTIONAL_LISTS if k in OPTION_PAGES[step_id]
                }
                # So is an emptied text.
                if CONF_CAMERA_GROUPS in OPTION_PAGES[step_id]:
                    cleared[CONF_CAMERA_GROUPS] = ""
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
            fields = filter_fields(hub=True, values=values)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(vol.Schema(fields), values),
            errors=errors,
        )

    def _camera_names(self) -> dict[str, str] | None:
        """The running hub's cameras (id to name); None when the hub is not loaded."""
        hub = getattr(self.config_entry, "runtime_data", None)
        return {cid: cam.name for cid, cam in hub.cameras.items()} if hub is not None else None

    async def _validate_page(self, user_input: dict[str, Any]) -> dict[str, str]:
        missing = [
            s
            for s in user_input.get(CONF_NOTIFY_SERVICES, [])
            if not self.hass.services.has_service("notify", s.removeprefix("notify."))
        ]
        if missing:
            return {CONF_NOTIFY_SERVICES: "notify_service_not_found"}
        if CONF_CAMERA_GROUPS in user_input:
            text = str(user_input[CONF_CAMERA_GROUPS] or "")
            cameras = self._camera_names()
            if cameras is not None and parse_camera_groups(text, cameras).unknown:
                return {CONF_CAMERA_GROUPS: "unknown_camera"}
            user_input[CONF_CAMERA_GROUPS] = text.strip()
        if CONF_MQTT_QOS in user_input:
            user_input[CONF_MQTT_QOS] = int(user_input[CONF_MQTT_QOS])
        if CONF_MQTT_TOPIC_PREFIX in user_input:
            prefix = str(user_input[CONF_MQTT_TOPIC_PREFIX])
            if not valid_topic_prefix(prefix):
                return {CONF_MQTT_TOPIC_PREFIX: "invalid_topic_prefix"}
            user_input[CONF_MQTT_TOPIC_PREFIX] = prefix.strip("/ ")
        if user_input.get(CONF_MQTT_ENABLED) and not mqtt_ready(self.hass):
            return {CONF_MQTT_ENABLED: "mqtt_not_set_up"}
        if model := str(user_input.get(CONF_FILTER_MODEL_PATH) or "").strip():
            error, _info = await async_validate_model(self.hass, model)
            if error:
                return {CONF_FILTER_MODEL_PATH: error}
            user_input[CONF_FILTER_MODEL_PATH] = model
        else:
            user_input.pop(CONF_FILTER_MODEL_PATH, None)
        return {}

    async def async_step_email(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Email delivery (SMTP or SendGrid), checked with a real connection before saving."""
        entry = self.config_entry
        errors: dict[str, str] = {}
        if user_input is not None:
            options, secrets = submitted(user_input, entry.data)
            errors = await async_check_email(self.hass, options, secrets)
            if not errors:
                # The password and the key live in the entry data, never in the options.
                merged = {**entry.options, **options}
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, **secrets}, options=merged
                )
                return self.async_create_entry(data=merged)
        # Secret fields start empty (left empty, the stored secret is kept).
        values = {**EMAIL_DEFAULTS, **entry.options, **(user_input or {})}
        values = {k: v for k, v in values.items() if k not in SECRETS}
        return self.async_show_form(
            step_id="email",
            data_schema=self.add_suggested_values_to_schema(email_schema(), values),
            errors=errors,
        )

    async def async_step_vision_model(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The vision model (an OpenAI-compatible server, checked with a real call before
        saving, or where HA has it an AI Task entity that takes images)."""
        entry = self.config_entry
        errors: dict[str, str] = {}
        current = {**default_vlm_options(), **entry.options}
        stored_key = entry.data.get(CONF_VLM_API_KEY)
        if user_input is not None:
            values = {**user_input}
            api_key = str(values.pop(CONF_VLM_API_KEY, "") or "").strip() or None
            ai_task = values.get(CONF_VLM_BACKEND) == VLM_BACKEND_AI_TASK
            if ai_task:
                values.setdefault(CONF_VLM_AI_TASK_ENTITY, "")  # left out when cleared
                if values.get(CONF_VLM_ENABLED) and (
                    problem := check_ai_task_entity(
                        self.hass, values[CONF_VLM_AI_TASK_ENTITY] or None
                    )
                ):
                    errors[CONF_VLM_AI_TASK_ENTITY] = problem
            values.setdefault(CONF_VLM_HOUSEHOLD_NOTES, "")  # left out of the form when cleared
            if notes_too_long(values[CONF_VLM_HOUSEHOLD_NOTES]):
                errors[CONF_VLM_HOUSEHOLD_NOTES] = "notes_too_long"
            elif (
                values.get(CONF_VLM_ENABLED)
                and not ai_task
                and (
                    error := await async_check_vision_model(
                        self.hass,
                        vlm_settings_from(
                            {**values, CONF_VLM_API_KEY: api_key}, self.hass.config.language
                        ),
                    )
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
                **vision_backend_fields(),
                vol.Required(CONF_VLM_BASE_URL): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
                ),
                vol.Optional(CONF_VLM_API_KEY): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                ),
                vol.Required(CONF_VLM_MODEL): selector.TextSelector(),
                vol.Required(CONF_VLM_RUN_MODE): run_mode_selector(with_inherit=False),
                vol.Optional(CONF_VLM_RESPONSE_LANGUAGE): selector.LanguageSelector(),
                vol.Optional(CONF_VLM_HOUSEHOLD_NOTES): selector.TextSelector(
                    selector.TextSelectorConfig(multiline=True)
                ),
                vol.Required(CONF_VLM_MAX_FRAMES): number(1, 32, 1),
                vol.Required(CONF_VLM_MAX_IMAGE_SIDE): number(256, 4096, 64, "px"),
                vol.Required(CONF_VLM_JPEG_QUALITY): number(30, 100, 1),
                vol.Required(CONF_VLM_IMAGE_DETAIL): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=["auto", "low", "high"],
                        mode=selector.SelectSelectorMode.DROPDOWN,
                        translation_key="vlm_image_detail",
                    )
                ),
                vol.Required(CONF_VLM_REQUEST_TIMEOUT_S): number(5, 600, 1, "s"),
                vol.Required(CONF_VLM_MAX_OUTPUT_TOKENS): number(128, 16384, 1),
                vol.Required(CONF_VLM_TEMPERATURE): number(0, 2, 0.05),
                vol.Required(CONF_VLM_PRICE_PROMPT): number(0, 1000, 0.01),
                vol.Required(CONF_VLM_PRICE_COMPLETION): number(0, 1000, 0.01),
                vol.Required(CONF_VLM_MAX_CALLS_PER_DAY): number(0, 100000, 1),
                vol.Required(CONF_VLM_MAX_TOKENS_PER_DAY): number(0, 100000000, 1000),
            }
        )
        return self.async_show_form(
            step_id="vision_model",
            data_schema=self.add_suggested_values_to_schema(schema, values),
            errors=errors,
        )
