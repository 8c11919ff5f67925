"""Email delivery: builds the SMTP or SendGrid notifier from the hub's options and data.

The messages and both protocols are in core/notifiers/ (no Home Assistant there); this adds
what only Home Assistant knows: the absolute address of the signed clip link (`get_url`), the
shared aiohttp session, worker threads for smtplib and the TLS client contexts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util import dt as dt_util
from homeassistant.util.ssl import client_context, client_context_no_verify

from .const import (
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
    EMAIL_SENDGRID,
    EMAIL_SMTP,
)
from .core.interfaces import Notifier
from .core.models import Alert
from .core.notifiers import sendgrid
from .core.notifiers.email_message import EmailContent, build_email
from .core.notifiers.sendgrid import SendGridTransport
from .core.notifiers.smtp import DEFAULT_PORTS, SmtpSecurity, SmtpSettings, SmtpTransport
from .core.payload import MediaLinks
from .ha_notifier import AlertWordsSource, WordsFor

_LOGGER = logging.getLogger(__name__)


class EmailTransport(Protocol):
    """SmtpTransport or SendGridTransport."""

    name: str

    async def deliver(self, content: EmailContent) -> None:
        """Send one email."""


def recipients(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The configured recipients (a list in the options), cleaned."""
    raw = values.get(CONF_EMAIL_TO) or []
    items = raw.replace(";", ",").split(",") if isinstance(raw, str) else raw
    return tuple(dict.fromkeys(s.strip() for s in items if s and s.strip()))


def smtp_settings(values: Mapping[str, Any], password: str | None) -> SmtpSettings:
    """SMTP settings from the options (or the form) and the stored password."""
    security = SmtpSecurity(values.get(CONF_SMTP_SECURITY, SmtpSecurity.STARTTLS))
    username = str(values.get(CONF_SMTP_USERNAME) or "").strip() or None
    return SmtpSettings(
        host=str(values.get(CONF_SMTP_HOST) or "").strip(),
        port=int(values.get(CONF_SMTP_PORT) or DEFAULT_PORTS[security]),
        security=security,
        sender=str(values.get(CONF_EMAIL_FROM) or "").strip(),
        recipients=recipients(values),
        # Home Assistant's contexts are made once, at its start (not on the event loop).
        ssl_context=(
            client_context()
            if values.get(CONF_SMTP_VERIFY_SSL, True)
            else client_context_no_verify()
        ),
        username=username,
        password=password if username else None,
    )


def sendgrid_transport(
    hass: HomeAssistant, values: Mapping[str, Any], api_key: str
) -> SendGridTransport:
    """The SendGrid client (its API address can only be changed by tests)."""
    return SendGridTransport(
        async_get_clientsession(hass),
        api_key,
        str(values.get(CONF_EMAIL_FROM) or "").strip(),
        recipients(values),
        api_base=sendgrid.API_BASE,
    )


class EmailNotifier(Notifier):
    """Sends each alert as one email with the snapshot inline and a signed clip link."""

    def __init__(
        self,
        hass: HomeAssistant,
        transport: EmailTransport,
        links: Callable[[Alert], MediaLinks],
        words: WordsFor | None = None,
    ) -> None:
        self._hass = hass
        self._transport = transport
        self._links = links
        self._words = words or AlertWordsSource(hass).async_get
        self._no_url_logged = False
        self.name = transport.name

    async def send(self, alert: Alert) -> None:
        jpeg = (
            await self._hass.async_add_executor_job(_read, alert.snapshot_path)
            if alert.snapshot_path is not None
            else None
        )
        content = build_email(
            alert,
            self._absolute(self._links(alert).media_url),
            jpeg,
            dt_util.get_default_time_zone(),
            await self._words(),
        )
        await self._transport.deliver(content)

    def _absolute(self, path: str | None) -> str | None:
        """The link with Home Assistant's address (external first: mail is read away from
        home); None when Home Assistant knows no address of its own."""
        if path is None:
            return None
        try:
            base = get_url(self._hass, prefer_external=True)
        except NoURLAvailableError:
            log = _LOGGER.debug if self._no_url_logged else _LOGGER.warning
            log(
                "Alert emails carry no clip link: Home Assistant has no URL of its own "
                "(set one in Settings > System > Network)"
            )
            self._no_url_logged = True
            return None
        return base.rstrip("/") + path


def build_email_notifiers(
    hass: HomeAssistant,
    options: Mapping[str, Any],
    data: Mapping[str, Any],
    links: Callable[[Alert], MediaLinks],
    words: WordsFor | None = None,
) -> list[Notifier]:
    """The email notifier the hub options ask for (none when email is off); its texts in
    `words`' language."""
    service = options.get(CONF_EMAIL_SERVICE)
    transport: EmailTransport
    if service == EMAIL_SMTP:
        settings = smtp_settings(options, data.get(CONF_SMTP_PASSWORD))
        transport = SmtpTransport(settings, hass.async_add_executor_job)
    elif service == EMAIL_SENDGRID and data.get(CONF_SENDGRID_API_KEY):
        transport = sendgrid_transport(hass, options, data[CONF_SENDGRID_API_KEY])
    else:
        return []
    return [EmailNotifier(hass, transport, links, words)]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as err:
        _LOGGER.warning("Alert email without snapshot: %s: %s", path, err.strerror or err)
        return None
