"""The watched-folder camera subentry flow: its form and the folder check."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.const import CONF_NAME

from ..const import (
    CONF_DELETE_AFTER_STORE,
    CONF_FOLDER,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_POLL_INTERVAL_S,
    CONF_STABLE_TIME_S,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_STABLE_TIME_S,
    FILTER_NONE,
    FILTER_ONNX,
    SECTION_OBJECT_FILTER,
)
from ..schema_compat import vol
from .camera_base import CameraSubentryFlow, async_check_filter, camera_fields, flatten_section
from .fields import FILTER_KEYS, number


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


class LocalFolderSubentryFlow(CameraSubentryFlow):
    """Add or reconfigure a watched-folder camera."""

    async def _form(self, step_id: str, user_input: dict[str, Any] | None) -> SubentryFlowResult:
        entry = self._get_entry()
        current = self._get_reconfigure_subentry() if step_id == "reconfigure" else None
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = flatten_section(user_input)
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
                ): number(0.5, 600, 0.5, "s"),
                vol.Required(
                    CONF_POLL_INTERVAL_S,
                    default=values.get(CONF_POLL_INTERVAL_S, DEFAULT_POLL_INTERVAL_S),
                ): number(0.5, 600, 0.5, "s"),
                vol.Required(
                    CONF_DELETE_AFTER_STORE, default=values.get(CONF_DELETE_AFTER_STORE, False)
                ): bool,
                **camera_fields(values, [FILTER_NONE, FILTER_ONNX]),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )
