"""What every camera subentry flow shares: the add/reconfigure form base, the per-camera
fields (alert overrides, vision model and the owner's words for it, object filter), their
checks and sections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentryFlow, SubentryFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers import selector

from ..const import (
    CONF_CAMERA_CONTEXT,
    CONF_FILTER,
    CONF_MIN_RISK_LEVEL,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_NOTIFY_ON_MOTION,
    CONF_VISIBLE_ACTIVITY_TYPES,
    CONF_VLM_RESPONSE_LANGUAGE,
    CONF_VLM_RUN_MODE,
    FILTER_ONNX,
    SECTION_MOTION,
    SECTION_OBJECT_FILTER,
)
from ..core.vlm.prompt import MAX_NOTES_CHARS
from ..object_filters import async_validate_model
from ..schema_compat import vol
from ..settings import INHERIT, model_path
from .fields import activity_selector, filter_fields, risk_selector, run_mode_selector


class CameraSubentryFlow(ConfigSubentryFlow):
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


def camera_fields(values: Mapping[str, Any], filters: list[str]) -> dict[Any, Any]:
    """The per-camera fields every source shares: alert overrides, vision model, filter."""
    return {
        vol.Required(
            CONF_MIN_RISK_LEVEL, default=values.get(CONF_MIN_RISK_LEVEL, INHERIT)
        ): risk_selector(with_inherit=True),
        vol.Optional(CONF_NOTIFY_ON_ACTIVITY_TYPES): activity_selector(),
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
        ): run_mode_selector(with_inherit=True),
        vol.Optional(CONF_CAMERA_CONTEXT): selector.TextSelector(
            selector.TextSelectorConfig(multiline=True)
        ),
        vol.Optional(CONF_VLM_RESPONSE_LANGUAGE): selector.LanguageSelector(),
        vol.Optional(CONF_VISIBLE_ACTIVITY_TYPES): activity_selector(),
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
            vol.Schema(filter_fields(hub=False)), {"collapsed": True}
        ),
    }


def notes_too_long(text: object) -> bool:
    """True when the owner's notes are longer than the prompt takes."""
    return isinstance(text, str) and len(text.strip()) > MAX_NOTES_CHARS


async def async_check_filter(
    hass: HomeAssistant, entry: ConfigEntry, data: dict[str, Any]
) -> tuple[str, str] | None:
    """(field, error) when a camera's notes are too long or its ONNX filter cannot work."""
    if notes_too_long(data.get(CONF_CAMERA_CONTEXT)):
        return CONF_CAMERA_CONTEXT, "notes_too_long"
    if data.get(CONF_FILTER) != FILTER_ONNX:
        return None
    path = model_path(data, entry.options)
    if path is None:
        return CONF_FILTER, "model_not_configured"
    error, _info = await async_validate_model(hass, path)
    if error is None:
        return None
    return CONF_FILTER, error


def flatten_section(user_input: dict[str, Any]) -> dict[str, Any]:
    """Move the sections' fields to the top level (how they are stored)."""
    data = dict(user_input)
    for name in (SECTION_OBJECT_FILTER, SECTION_MOTION):
        section_values = data.pop(name, None) or {}
        data.update({k: v for k, v in section_values.items() if v not in (None, "", [])})
    return data
