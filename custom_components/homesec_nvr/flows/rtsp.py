"""The RTSP camera subentry flow: its form (with the motion section) and the stream checks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.data_entry_flow import section
from homeassistant.helpers import selector

from ..cameras.rtsp import CameraStreamError, async_stream_url, rtsp_settings
from ..const import (
    CONF_CAMERA_ENTITY,
    CONF_DETECT_FPS,
    CONF_DETECT_URL,
    CONF_DETECT_WIDTH,
    CONF_MASKS,
    CONF_MAX_CLIP_S,
    CONF_MIN_AREA_PERCENT,
    CONF_MIN_CLIP_S,
    CONF_MOTION_THRESHOLD,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_POST_ROLL_S,
    CONF_PRE_ROLL_S,
    CONF_STREAM_URL,
    FILTER_NONE,
    FILTER_ONNX,
    RTSP_CLIPS_DIR,
    SECTION_MOTION,
    SECTION_OBJECT_FILTER,
)
from ..core.sources.rtsp import RtspProbeError, probe_stream, redact_url
from ..schema_compat import vol
from .camera_base import CameraSubentryFlow, async_check_filter, camera_fields, flatten_section
from .fields import FILTER_KEYS, number

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


class RtspSubentryFlow(CameraSubentryFlow):
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
            data = flatten_section(user_input)
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
            **(flatten_section(user_input) if user_input else {}),
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
                            vol.Optional(CONF_DETECT_FPS): number(1, 15, 1, "fps"),
                            vol.Optional(CONF_DETECT_WIDTH): number(64, 1280, 16, "px"),
                            vol.Optional(CONF_MOTION_THRESHOLD): number(1, 255, 1),
                            vol.Optional(CONF_MIN_AREA_PERCENT): number(0.01, 100, 0.01, "%"),
                            vol.Optional(CONF_MASKS): selector.TextSelector(
                                selector.TextSelectorConfig(multiline=True)
                            ),
                            vol.Optional(CONF_PRE_ROLL_S): number(0, 30, 1, "s"),
                            vol.Optional(CONF_POST_ROLL_S): number(0, 120, 1, "s"),
                            vol.Optional(CONF_MAX_CLIP_S): number(5, 600, 1, "s"),
                            vol.Optional(CONF_MIN_CLIP_S): number(0, 60, 1, "s"),
                        }
                    ),
                    {"collapsed": True},
                ),
                **camera_fields(values, [FILTER_NONE, FILTER_ONNX]),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )
