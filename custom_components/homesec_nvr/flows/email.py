"""The hub options' email page: SMTP or SendGrid, checked with a real connection (SMTP:
connect, EHLO, STARTTLS, login; SendGrid: the key's permissions) before it is saved."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector

from ..const import (
    CONF_EMAIL_FROM,
    CONF_EMAIL_SERVICE,
    CONF_EMAIL_TO,
    CONF_SENDGRID_API_KEY,
    CONF_SMTP_HOST,
    CONF_SMTP_PASSWORD,
    CONF_SMTP_PORT,
    CONF_SMTP_SECURITY,
    CONF_SMTP_USERNAME,
    CONF_SMTP_VERIFY_SSL,
    EMAIL_OFF,
    EMAIL_SENDGRID,
    EMAIL_SMTP,
)
from ..core.notifiers.email_message import EmailError, EmailRefusedError, valid_address
from ..core.notifiers.sendgrid import valid_api_key
from ..core.notifiers.smtp import SmtpSecurity, check_blocking
from ..ha_email import recipients, sendgrid_transport, smtp_settings
from ..schema_compat import vol
from .fields import number

_LOGGER = logging.getLogger(__name__)

# The options the page saves (the secrets go to the entry data).
EMAIL_KEYS = (
    CONF_EMAIL_SERVICE,
    CONF_EMAIL_FROM,
    CONF_EMAIL_TO,
    CONF_SMTP_HOST,
    CONF_SMTP_PORT,
    CONF_SMTP_SECURITY,
    CONF_SMTP_USERNAME,
    CONF_SMTP_VERIFY_SSL,
)
SECRETS = (CONF_SMTP_PASSWORD, CONF_SENDGRID_API_KEY)
EMAIL_DEFAULTS: dict[str, Any] = {
    CONF_EMAIL_SERVICE: EMAIL_OFF,
    CONF_EMAIL_FROM: "",
    CONF_EMAIL_TO: [],
    CONF_SMTP_HOST: "",
    CONF_SMTP_PORT: 587,
    CONF_SMTP_SECURITY: SmtpSecurity.STARTTLS.value,
    CONF_SMTP_USERNAME: "",
    CONF_SMTP_VERIFY_SSL: True,
}


def _select(options: list[str], key: str) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options, mode=selector.SelectSelectorMode.DROPDOWN, translation_key=key
        )
    )


def _text(kind: selector.TextSelectorType, multiple: bool = False) -> selector.TextSelector:
    return selector.TextSelector(selector.TextSelectorConfig(type=kind, multiple=multiple))


def email_schema() -> vol.Schema:
    """The page's fields (suggested values fill them in)."""
    text = selector.TextSelectorType
    return vol.Schema(
        {
            vol.Required(CONF_EMAIL_SERVICE): _select(
                [EMAIL_OFF, EMAIL_SMTP, EMAIL_SENDGRID], CONF_EMAIL_SERVICE
            ),
            vol.Optional(CONF_EMAIL_FROM): _text(text.EMAIL),
            vol.Optional(CONF_EMAIL_TO): _text(text.EMAIL, multiple=True),
            vol.Optional(CONF_SMTP_HOST): _text(text.TEXT),
            vol.Required(CONF_SMTP_PORT): number(1, 65535, 1),
            vol.Required(CONF_SMTP_SECURITY): _select(
                [s.value for s in SmtpSecurity], CONF_SMTP_SECURITY
            ),
            vol.Optional(CONF_SMTP_USERNAME): _text(text.TEXT),
            vol.Optional(CONF_SMTP_PASSWORD): _text(text.PASSWORD),
            vol.Required(CONF_SMTP_VERIFY_SSL): bool,
            vol.Optional(CONF_SENDGRID_API_KEY): _text(text.PASSWORD),
        }
    )


def submitted(
    user_input: Mapping[str, Any], stored: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page's options and secrets; an empty secret field keeps the stored secret."""
    options = {k: user_input.get(k, EMAIL_DEFAULTS[k]) for k in EMAIL_KEYS}
    options[CONF_SMTP_PORT] = int(options[CONF_SMTP_PORT])
    options[CONF_EMAIL_TO] = list(recipients(options))
    for key in (CONF_EMAIL_FROM, CONF_SMTP_HOST, CONF_SMTP_USERNAME):
        options[key] = str(options[key] or "").strip()
    secrets = {k: str(user_input.get(k) or "").strip() or stored.get(k) for k in SECRETS}
    if not options[CONF_SMTP_USERNAME]:
        # No login: a password left from an earlier login is forgotten.
        secrets[CONF_SMTP_PASSWORD] = None
    return options, secrets


async def async_check_email(
    hass: HomeAssistant, options: Mapping[str, Any], secrets: Mapping[str, Any]
) -> dict[str, str]:
    """Form errors for the page (empty: it works)."""
    service = options[CONF_EMAIL_SERVICE]
    if service == EMAIL_OFF:
        return {}
    if not valid_address(options[CONF_EMAIL_FROM]):
        return {CONF_EMAIL_FROM: "invalid_email"}
    if not options[CONF_EMAIL_TO] or not all(map(valid_address, options[CONF_EMAIL_TO])):
        return {CONF_EMAIL_TO: "invalid_email"}
    try:
        if service == EMAIL_SMTP:
            if not options[CONF_SMTP_HOST]:
                return {CONF_SMTP_HOST: "email_host_missing"}
            settings = smtp_settings(options, secrets[CONF_SMTP_PASSWORD])
            await hass.async_add_executor_job(check_blocking, settings)
        else:
            key = secrets[CONF_SENDGRID_API_KEY]
            if not key or not valid_api_key(key):
                return {CONF_SENDGRID_API_KEY: "invalid_api_key"}
            await sendgrid_transport(hass, options, key).check()
    except (EmailError, EmailRefusedError) as err:
        _LOGGER.info("Email settings not saved: %s", err)
        # Prefixed: the vision model's cannot_connect / invalid_auth say other things.
        return {"base": f"email_{err.key}"}
    return {}
