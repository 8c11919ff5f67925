"""The Frigate NVR subentry flow: the server connection, then what to take from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME
from homeassistant.helpers import selector
from yarl import URL

from ..cameras.frigate import frigate_client, mqtt_ready
from ..const import (
    CONF_DOWNLOAD_WINDOW_S,
    CONF_FRIGATE_MODE,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_PADDING_S,
    CONF_PER_CAMERA_ALERT,
    CONF_TOPIC_PREFIX,
    CONF_VERIFY_SSL,
    CONF_WRITE_DESCRIPTION,
    FILTER_FRIGATE,
    FILTER_NONE,
    FILTER_ONNX,
    SECTION_OBJECT_FILTER,
)
from ..core.filters.coco import COCO80_NAMES
from ..core.sources import frigate_filters as match
from ..core.sources.frigate_client import FrigateError, FrigateServerInfo
from ..schema_compat import vol
from ..settings import validate_per_camera_alert
from .camera_base import async_check_filter, camera_fields, flatten_section
from .fields import FILTER_KEYS, number

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
            user_input = flatten_section(user_input)
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
                vol.Required(match.CONF_MIN_SCORE): number(0, 1, 0.01),
                vol.Required(match.CONF_MIN_DURATION_S): number(0, 600, 0.5, "s"),
                vol.Required(CONF_PADDING_S): number(0, 60, 1, "s"),
                vol.Required(CONF_DOWNLOAD_WINDOW_S): number(15, 900, 5, "s"),
                vol.Required(CONF_TOPIC_PREFIX): selector.TextSelector(),
                vol.Required(CONF_WRITE_DESCRIPTION): bool,
                **camera_fields(values, [FILTER_FRIGATE, FILTER_ONNX, FILTER_NONE]),
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
