"""The hub's config flow: set up, reconfigure (storage folder), reauthenticate (vision model).

Its options flow and the camera subentry flows are in flows/, one module each."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import selector

from .const import (
    CONF_LINK_SECRET,
    CONF_MAX_STORAGE_GB,
    CONF_RETENTION_DAYS,
    CONF_STORAGE_PATH,
    CONF_VLM_API_KEY,
    CONF_VLM_BASE_URL,
    CONF_VLM_MODEL,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_STORAGE_SUBDIR,
    DOMAIN,
    REAUTH_DROPBOX,
    REAUTH_KIND,
)
from .core.interfaces import StorageUnavailableError
from .core.storage.local import LocalStorage
from .flows import SUBENTRY_FLOWS
from .flows.dropbox_signin import DropboxSignInFlow
from .flows.fields import async_check_vision_model, default_options, default_vlm_options, number
from .flows.options import HomeSecOptionsFlow
from .schema_compat import vol
from .settings import vlm_settings_from


def default_storage_path(hass: HomeAssistant) -> str:
    """HA's media folder (`local` media dir) with `homesec/` inside it."""
    media_dirs = getattr(hass.config, "media_dirs", {}) or {}
    base = media_dirs.get("local") or hass.config.path("media")
    return str(Path(base) / DEFAULT_STORAGE_SUBDIR)


def check_storage_writable(path_text: str) -> str | None:
    """Blocking: create the folder if needed and prove it is writable. Error key or None.

    The only place the storage folder is created: when the user chooses it here. At run
    time a missing folder is "storage unavailable" (an unmounted share), never recreated.
    """
    path = Path(path_text)
    if not path.is_absolute():
        return "path_not_absolute"
    probe = path / f".homesec-write-test-{uuid.uuid4().hex}"
    try:
        LocalStorage(path).ensure_root()
        probe.write_bytes(b"ok")
        probe.unlink()
    except (OSError, StorageUnavailableError):
        return "storage_not_writable"
    return None


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
            ): number(0, 3650, 1, "d"),
            vol.Required(
                CONF_MAX_STORAGE_GB,
                default=values.get(CONF_MAX_STORAGE_GB, DEFAULT_MAX_STORAGE_GB),
            ): number(0, 100000, 0.5, "GB"),
        }
    )


class HomeSecConfigFlow(DropboxSignInFlow, ConfigFlow, domain=DOMAIN):
    """Set up the HomeSec hub (one per Home Assistant); the Dropbox sign-in is a reauth."""

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
                    title="HomeSec",
                    data={CONF_STORAGE_PATH: path, CONF_LINK_SECRET: secrets.token_hex(32)},
                    options=options,
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
        """The vision model server refused the API key, or Dropbox needs a sign-in."""
        if entry_data.get(REAUTH_KIND) == REAUTH_DROPBOX:
            return await self.async_step_pick_implementation()
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
        """Cameras are subentries, one type per clip source (registry: flows/__init__.py)."""
        return dict(SUBENTRY_FLOWS)
