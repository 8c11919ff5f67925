"""The FTP camera subentry flow (one login per camera) and the hub's "FTP server" options
page fields and checks (used by options.py)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry, SubentryFlowResult
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector

from ..cameras.ftp import ftp_server_config, running_server
from ..const import (
    CONF_FTP_BIND_ADDRESS,
    CONF_FTP_MAX_SESSIONS,
    CONF_FTP_MAX_UPLOAD_MB,
    CONF_FTP_PASSIVE_MAX,
    CONF_FTP_PASSIVE_MIN,
    CONF_FTP_PORT,
    CONF_FTP_TLS_CERTFILE,
    CONF_FTP_TLS_KEYFILE,
    CONF_FTP_TLS_REQUIRED,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_SNAPSHOT_GAP_S,
    DEFAULT_FTP_BIND_ADDRESS,
    DEFAULT_FTP_MAX_SESSIONS,
    DEFAULT_FTP_MAX_UPLOAD_MB,
    DEFAULT_FTP_PASSIVE_MAX,
    DEFAULT_FTP_PASSIVE_MIN,
    DEFAULT_FTP_PORT,
    DEFAULT_SNAPSHOT_GAP_S,
    FILTER_NONE,
    FILTER_ONNX,
    SECTION_OBJECT_FILTER,
    SUBENTRY_FTP,
)
from ..core.sources.ftp_server import port_bindable, tls_context
from ..schema_compat import vol
from .camera_base import CameraSubentryFlow, async_check_filter, camera_fields, flatten_section
from .fields import FILTER_KEYS, number

FTP_SERVER_KEYS = (
    CONF_FTP_BIND_ADDRESS,
    CONF_FTP_PORT,
    CONF_FTP_PASSIVE_MIN,
    CONF_FTP_PASSIVE_MAX,
    CONF_FTP_MAX_UPLOAD_MB,
    CONF_FTP_MAX_SESSIONS,
    CONF_FTP_TLS_CERTFILE,
    CONF_FTP_TLS_KEYFILE,
    CONF_FTP_TLS_REQUIRED,
)
FTP_SERVER_DEFAULTS: dict[str, Any] = {
    CONF_FTP_BIND_ADDRESS: DEFAULT_FTP_BIND_ADDRESS,
    CONF_FTP_PORT: DEFAULT_FTP_PORT,
    CONF_FTP_PASSIVE_MIN: DEFAULT_FTP_PASSIVE_MIN,
    CONF_FTP_PASSIVE_MAX: DEFAULT_FTP_PASSIVE_MAX,
    CONF_FTP_MAX_UPLOAD_MB: DEFAULT_FTP_MAX_UPLOAD_MB,
    CONF_FTP_MAX_SESSIONS: DEFAULT_FTP_MAX_SESSIONS,
    CONF_FTP_TLS_REQUIRED: False,
}
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


def ftp_server_fields(values: Mapping[str, Any]) -> dict[Any, Any]:
    """The "FTP server" options page."""
    values = {**FTP_SERVER_DEFAULTS, **values}
    return {
        vol.Required(CONF_FTP_BIND_ADDRESS, default=values[CONF_FTP_BIND_ADDRESS]): str,
        vol.Required(CONF_FTP_PORT, default=values[CONF_FTP_PORT]): number(1, 65535, 1),
        vol.Required(CONF_FTP_PASSIVE_MIN, default=values[CONF_FTP_PASSIVE_MIN]): number(
            1024, 65535, 1
        ),
        vol.Required(CONF_FTP_PASSIVE_MAX, default=values[CONF_FTP_PASSIVE_MAX]): number(
            1024, 65535, 1
        ),
        vol.Required(CONF_FTP_MAX_UPLOAD_MB, default=values[CONF_FTP_MAX_UPLOAD_MB]): number(
            1, 10240, 1, "MB"
        ),
        vol.Required(CONF_FTP_MAX_SESSIONS, default=values[CONF_FTP_MAX_SESSIONS]): number(
            1, 256, 1
        ),
        vol.Optional(CONF_FTP_TLS_CERTFILE): str,
        vol.Optional(CONF_FTP_TLS_KEYFILE): str,
        vol.Required(CONF_FTP_TLS_REQUIRED, default=values[CONF_FTP_TLS_REQUIRED]): bool,
    }


async def async_check_ftp_server(
    hass: HomeAssistant, entry: ConfigEntry, user_input: dict[str, Any]
) -> dict[str, str]:
    """Errors of the "FTP server" page; normalises its values in place."""
    for key in FTP_SERVER_KEYS[1:6]:
        user_input[key] = int(user_input[key])
    if error := await _async_check_tls(hass, user_input):
        return error
    address = str(user_input[CONF_FTP_BIND_ADDRESS]).strip()
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return {CONF_FTP_BIND_ADDRESS: "invalid_bind_address"}
    user_input[CONF_FTP_BIND_ADDRESS] = address
    low, high, port = (
        user_input[CONF_FTP_PASSIVE_MIN],
        user_input[CONF_FTP_PASSIVE_MAX],
        user_input[CONF_FTP_PORT],
    )
    if low > high:
        return {CONF_FTP_PASSIVE_MAX: "invalid_passive_range"}
    if low <= port <= high:
        return {CONF_FTP_PORT: "port_in_passive_range"}
    running = running_server(hass, entry.entry_id)
    if running is not None and (running.config.host, running.config.port) == (address, port):
        return {}  # HomeSec's own server holds it (it is restarted with the new settings)
    if not await hass.async_add_executor_job(port_bindable, address, port):
        return {CONF_FTP_PORT: "port_in_use"}
    return {}


async def _async_check_tls(hass: HomeAssistant, user_input: dict[str, Any]) -> dict[str, str]:
    """The FTPS certificate and key load (both absolute paths; the key may be in the
    certificate's file); FTPS can only be required with a certificate."""
    certfile = str(user_input.get(CONF_FTP_TLS_CERTFILE) or "").strip()
    keyfile = str(user_input.get(CONF_FTP_TLS_KEYFILE) or "").strip()
    # A field cleared in the form is left out of it: stored as empty.
    user_input[CONF_FTP_TLS_CERTFILE], user_input[CONF_FTP_TLS_KEYFILE] = certfile, keyfile
    if not certfile:
        if keyfile:
            return {CONF_FTP_TLS_CERTFILE: "tls_certificate_missing"}
        if user_input.get(CONF_FTP_TLS_REQUIRED):
            return {CONF_FTP_TLS_REQUIRED: "tls_certificate_missing"}
        return {}
    for key, path in ((CONF_FTP_TLS_CERTFILE, certfile), (CONF_FTP_TLS_KEYFILE, keyfile)):
        if path and not path.startswith("/"):
            return {key: "path_not_absolute"}
    try:
        await hass.async_add_executor_job(tls_context, certfile, keyfile or certfile)
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return {CONF_FTP_TLS_CERTFILE: "tls_certificate_invalid"}
    return {}


class FtpSubentryFlow(CameraSubentryFlow):
    """Add or reconfigure an FTP camera: its name and login."""

    async def _form(self, step_id: str, user_input: dict[str, Any] | None) -> SubentryFlowResult:
        entry = self._get_entry()
        current = self._get_reconfigure_subentry() if step_id == "reconfigure" else None
        errors: dict[str, str] = {}
        if user_input is not None:
            data = flatten_section(user_input)
            name = str(data.get(CONF_NAME, "")).strip()
            username = str(data.get(CONF_USERNAME, "")).strip()
            # Left empty when reconfiguring, the stored password is kept.
            password = str(data.get(CONF_PASSWORD) or "") or (
                str(current.data.get(CONF_PASSWORD, "")) if current else ""
            )
            others = [
                s
                for s in entry.subentries.values()
                if current is None or s.subentry_id != current.subentry_id
            ]
            if not name:
                errors[CONF_NAME] = "name_required"
            elif any(s.title.casefold() == name.casefold() for s in others):
                errors[CONF_NAME] = "name_already_used"
            elif not _USERNAME.match(username):
                errors[CONF_USERNAME] = "invalid_ftp_username"
            elif any(
                s.subentry_type == SUBENTRY_FTP
                and str(s.data.get(CONF_USERNAME, "")).casefold() == username.casefold()
                for s in others
            ):
                errors[CONF_USERNAME] = "username_already_used"
            elif len(password) < 4:
                errors[CONF_PASSWORD] = "password_too_short"
            elif error := await self._check_port(entry):
                errors["base"] = error
            elif problem := await async_check_filter(self.hass, entry, data):
                errors[problem[0]] = problem[1]
            else:
                data = {
                    CONF_NOTIFY_ON_ACTIVITY_TYPES: [],
                    CONF_SNAPSHOT_GAP_S: DEFAULT_SNAPSHOT_GAP_S,
                    **data,
                    CONF_NAME: name,
                    CONF_USERNAME: username,
                    CONF_PASSWORD: password,
                }
                unique_id = f"ftp:{username.casefold()}"
                if current is not None:
                    return self.async_update_and_abort(
                        entry, current, title=name, data=data, unique_id=unique_id
                    )
                return self.async_create_entry(title=name, data=data, unique_id=unique_id)
        values: Mapping[str, Any] = {
            CONF_SNAPSHOT_GAP_S: DEFAULT_SNAPSHOT_GAP_S,
            **(current.data if current else {}),
            **(flatten_section(user_input) if user_input else {}),
        }
        # The password is never shown back.
        values = {k: v for k, v in values.items() if k != CONF_PASSWORD}
        suggested = {
            **values,
            SECTION_OBJECT_FILTER: {k: values[k] for k in FILTER_KEYS if k in values},
        }
        schema = vol.Schema(
            {
                vol.Required(CONF_NAME): str,
                vol.Required(CONF_USERNAME): selector.TextSelector(),
                (vol.Optional if current else vol.Required)(CONF_PASSWORD): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                ),
                vol.Required(CONF_SNAPSHOT_GAP_S): number(1, 120, 1, "s"),
                **camera_fields(values, [FILTER_NONE, FILTER_ONNX]),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={"port": str(ftp_server_config(entry.options).port)},
        )

    async def _check_port(self, entry: ConfigEntry) -> str | None:
        """The first FTP camera starts the server: its port must be free."""
        if running_server(self.hass, entry.entry_id) is not None:
            return None
        config = ftp_server_config(entry.options)
        if await self.hass.async_add_executor_job(port_bindable, config.host, config.port):
            return None
        return "port_in_use"
