"""The options' prompt preview: exactly the text the vision model gets for a camera's clip, or
for an incident of a camera group (system prompt and user message, without the images), from
the analyzer's own builders."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult, ConfigSubentry, OptionsFlow
from homeassistant.helpers import selector
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_CAMERA_GROUPS,
    SUBENTRY_FRIGATE,
    SUBENTRY_FTP,
    SUBENTRY_LOCAL_FOLDER,
    SUBENTRY_RTSP,
)
from ..core.camera_groups import parse_camera_groups
from ..core.vlm.incident import preview_incident_prompt
from ..core.vlm.openai_compatible import ResponseMode
from ..core.vlm.prompt import PromptText, preview_prompt
from ..prompt_context import camera_prompt_context
from ..schema_compat import vol
from ..settings import vlm_settings_from
from .fields import default_vlm_options

CAMERA_SUBENTRIES = (SUBENTRY_LOCAL_FOLDER, SUBENTRY_RTSP, SUBENTRY_FRIGATE, SUBENTRY_FTP)
CONF_PREVIEW_CAMERA = "camera"
# A camera group's entry in the preview's camera list.
GROUP_PREFIX = "group:"


def camera_prompt_text(
    options: dict[str, Any], camera: ConfigSubentry, language: str, include_schema: bool
) -> PromptText:
    """What is sent for a sample clip of this camera with these hub options."""
    settings = vlm_settings_from({**default_vlm_options(), **options}, language)
    return preview_prompt(
        camera=camera_prompt_context(camera.title, camera.data),
        language=settings.response_language,
        household_notes=settings.household_notes,
        include_schema=include_schema,
        max_frames=settings.max_frames,
        local_start=dt_util.now(),
    )


def incident_prompt_text(
    options: dict[str, Any], cameras: list[ConfigSubentry], language: str, include_schema: bool
) -> PromptText:
    """What is sent for a sample incident of these cameras (a group) with these options."""
    settings = vlm_settings_from({**default_vlm_options(), **options}, language)
    return preview_incident_prompt(
        cameras=[camera_prompt_context(camera.title, camera.data) for camera in cameras],
        language=settings.response_language,
        household_notes=settings.household_notes,
        include_schema=include_schema,
        max_frames=settings.max_frames,
        local_start=dt_util.now(),
    )


class PromptPreviewSteps(OptionsFlow):
    """The `prompt_preview` menu entry of the options flow."""

    def _cameras(self) -> list[ConfigSubentry]:
        return [
            s for s in self.config_entry.subentries.values() if s.subentry_type in CAMERA_SUBENTRIES
        ]

    async def async_step_prompt_preview(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the camera (when there are several), then show its prompt."""
        cameras = self._cameras()
        if not cameras:
            return self.async_abort(reason="no_cameras")
        groups = self._groups(cameras)
        if len(cameras) == 1:
            return self._show_preview(cameras[0])
        if user_input is not None:
            picked = str(user_input[CONF_PREVIEW_CAMERA])
            if picked.startswith(GROUP_PREFIX) and picked[len(GROUP_PREFIX) :] in groups:
                name = picked[len(GROUP_PREFIX) :]
                return self._show_incident_preview(name, groups[name])
            chosen = self.config_entry.subentries.get(picked)
            if chosen is not None:
                return self._show_preview(chosen)
        options = [selector.SelectOptionDict(value=s.subentry_id, label=s.title) for s in cameras]
        options += [
            selector.SelectOptionDict(
                value=f"{GROUP_PREFIX}{name}",
                label=f"{name} ({' + '.join(c.title for c in members)})",
            )
            for name, members in groups.items()
        ]
        schema = vol.Schema(
            {
                vol.Required(CONF_PREVIEW_CAMERA, default=cameras[0].subentry_id): (
                    selector.SelectSelector(
                        selector.SelectSelectorConfig(
                            options=options, mode=selector.SelectSelectorMode.DROPDOWN
                        )
                    )
                )
            }
        )
        return self.async_show_form(step_id="prompt_preview", data_schema=schema)

    def _show_preview(self, camera: ConfigSubentry) -> ConfigFlowResult:
        text = camera_prompt_text(
            dict(self.config_entry.options),
            camera,
            self.hass.config.language,
            include_schema=self._response_mode() is not ResponseMode.JSON_SCHEMA,
        )
        return self.async_show_form(
            step_id="prompt_preview_show",
            data_schema=vol.Schema({}),
            description_placeholders={
                "camera": camera.title,
                "system": text.system,
                "user": text.user,
            },
        )

    def _groups(self, cameras: list[ConfigSubentry]) -> dict[str, list[ConfigSubentry]]:
        """The camera groups of several cameras (their incidents are analysed together)."""
        text = str(self.config_entry.options.get(CONF_CAMERA_GROUPS) or "")
        by_id = {camera.subentry_id: camera for camera in cameras}
        parsed = parse_camera_groups(text, {c.subentry_id: c.title for c in cameras})
        groups: dict[str, list[ConfigSubentry]] = {}
        for camera_id, group in parsed.group_of.items():
            groups.setdefault(group, []).append(by_id[camera_id])
        return {name: members for name, members in groups.items() if len(members) > 1}

    def _show_incident_preview(self, group: str, cameras: list[ConfigSubentry]) -> ConfigFlowResult:
        text = incident_prompt_text(
            dict(self.config_entry.options),
            cameras,
            self.hass.config.language,
            include_schema=self._response_mode() is not ResponseMode.JSON_SCHEMA,
        )
        return self.async_show_form(
            step_id="prompt_preview_show_incident",
            data_schema=vol.Schema({}),
            description_placeholders={
                "group": group,
                "cameras": ", ".join(camera.title for camera in cameras),
                "system": text.system,
                "user": text.user,
            },
        )

    async def async_step_prompt_preview_show_incident(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Close the incident preview: the options stay as they are."""
        return self.async_create_entry(data=dict(self.config_entry.options))

    def _response_mode(self) -> ResponseMode:
        """How the running analyzer asks for the answer's shape (the schema is in the system
        prompt unless the server enforces it); before it learned anything, json_schema."""
        hub = getattr(self.config_entry, "runtime_data", None)
        vision = getattr(hub, "vision", None)
        analyzer = getattr(vision, "analyzer", None)
        mode = getattr(analyzer, "response_mode", ResponseMode.JSON_SCHEMA)
        return mode if isinstance(mode, ResponseMode) else ResponseMode.JSON_SCHEMA

    async def async_step_prompt_preview_show(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Close the preview: the options stay as they are."""
        return self.async_create_entry(data=dict(self.config_entry.options))
