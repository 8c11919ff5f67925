"""The hub options' email page: SMTP settings checked with a real connection and login to
aiosmtpd, SendGrid keys checked against its contract, each failure named on the form, the
secrets kept in the entry data (and kept when their field is left empty)."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homesec_nvr.const import (
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
)

from .conftest import SetupHub
from .core.email_samples import SENDGRID_KEY
from .core.sendgrid_server import SendGridServer
from .core.smtp_server import SmtpServer, free_port
from .helpers import open_options

pytest_plugins = ["tests.email_servers"]


def _smtp_form(port: int, **changes: Any) -> dict[str, Any]:
    return {
        CONF_EMAIL_SERVICE: "smtp",
        CONF_EMAIL_FROM: "cams@example.com",
        CONF_EMAIL_TO: ["owner@example.com", " partner@example.com "],
        CONF_SMTP_HOST: "127.0.0.1",
        CONF_SMTP_PORT: float(port),
        CONF_SMTP_SECURITY: "starttls",
        CONF_SMTP_USERNAME: "cams@example.com",
        CONF_SMTP_PASSWORD: "correct horse",
        CONF_SMTP_VERIFY_SSL: False,
        **changes,
    }


def _sendgrid_form(**changes: Any) -> dict[str, Any]:
    return {
        CONF_EMAIL_SERVICE: "sendgrid",
        CONF_EMAIL_FROM: "cams@example.com",
        CONF_EMAIL_TO: ["owner@example.com"],
        CONF_SMTP_PORT: 587.0,
        CONF_SMTP_SECURITY: "starttls",
        CONF_SMTP_VERIFY_SSL: True,
        **changes,
    }


async def _submit(hass: HomeAssistant, entry: MockConfigEntry, form: dict[str, Any]) -> Any:
    result = await open_options(hass, entry.entry_id, "email")
    assert result["type"] is FlowResultType.FORM
    done = await hass.config_entries.options.async_configure(result["flow_id"], form)
    await hass.async_block_till_done()
    return done


async def test_working_smtp_settings_are_saved_with_the_password_in_the_entry_data(
    hass: HomeAssistant, smtp: SmtpServer, setup_hub: SetupHub
) -> None:
    # Given a running hub and a mail server that takes our login
    entry = await setup_hub()

    # When the email page is filled in correctly
    result = await _submit(hass, entry, _smtp_form(smtp.port))

    # Then it is saved: the settings in the options, the password only in the data
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_EMAIL_SERVICE] == "smtp"
    assert entry.options[CONF_SMTP_PORT] == smtp.port
    assert entry.options[CONF_EMAIL_TO] == ["owner@example.com", "partner@example.com"]
    assert CONF_SMTP_PASSWORD not in entry.options
    assert entry.data[CONF_SMTP_PASSWORD] == "correct horse"
    # ... and nothing was sent by the check
    assert smtp.messages == []


async def test_an_empty_password_field_keeps_the_stored_password(
    hass: HomeAssistant, smtp: SmtpServer, setup_hub: SetupHub
) -> None:
    # Given saved SMTP settings with a password
    entry = await setup_hub()
    assert (await _submit(hass, entry, _smtp_form(smtp.port)))["type"] is (
        FlowResultType.CREATE_ENTRY
    )

    # When the page is opened again (the password field is empty) and saved with another
    # recipient
    result = await open_options(hass, entry.entry_id, "email")
    suggested = {
        str(k): (k.description or {}).get("suggested_value") for k in result["data_schema"].schema
    }
    form = _smtp_form(smtp.port, **{CONF_EMAIL_TO: ["new@example.com"]})
    del form[CONF_SMTP_PASSWORD]
    saved = await hass.config_entries.options.async_configure(result["flow_id"], form)
    await hass.async_block_till_done()

    # Then the form never showed the password, the login with the stored one passed, and
    # the password is still stored
    assert suggested[CONF_SMTP_PASSWORD] is None
    assert suggested[CONF_SMTP_USERNAME] == "cams@example.com"
    assert saved["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_EMAIL_TO] == ["new@example.com"]
    assert entry.data[CONF_SMTP_PASSWORD] == "correct horse"


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        pytest.param(
            {CONF_SMTP_PASSWORD: "wrong"}, {"base": "email_invalid_auth"}, id="wrong password"
        ),
        pytest.param(
            {CONF_SMTP_VERIFY_SSL: True}, {"base": "email_tls_failed"}, id="untrusted certificate"
        ),
        pytest.param(
            {CONF_SMTP_SECURITY: "tls"}, {"base": "email_tls_failed"}, id="TLS on a STARTTLS port"
        ),
        pytest.param(
            {CONF_SMTP_SECURITY: "none"}, {"base": "email_invalid_auth"}, id="login without TLS"
        ),
        pytest.param(
            {CONF_EMAIL_FROM: "HomeSec <cams@example.com>"},
            {CONF_EMAIL_FROM: "invalid_email"},
            id="sender with a name",
        ),
        pytest.param(
            {CONF_EMAIL_TO: ["owner@example.com", "not an address"]},
            {CONF_EMAIL_TO: "invalid_email"},
            id="bad recipient",
        ),
        pytest.param({CONF_EMAIL_TO: []}, {CONF_EMAIL_TO: "invalid_email"}, id="no recipient"),
        pytest.param({CONF_SMTP_HOST: " "}, {CONF_SMTP_HOST: "email_host_missing"}, id="no host"),
    ],
)
async def test_each_smtp_problem_is_named_on_the_form(
    hass: HomeAssistant,
    smtp: SmtpServer,
    setup_hub: SetupHub,
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    # Given a running hub and a STARTTLS mail server with a login
    entry = await setup_hub()

    # When the page is submitted with one thing wrong
    result = await _submit(hass, entry, _smtp_form(smtp.port, **changes))

    # Then the form says what, and nothing is saved
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert CONF_EMAIL_SERVICE not in entry.options
    assert CONF_SMTP_PASSWORD not in entry.data


async def test_a_server_that_is_down_cannot_be_saved(
    hass: HomeAssistant, socket_enabled: None, setup_hub: SetupHub
) -> None:
    # Given nothing listening on the SMTP port
    entry = await setup_hub()

    # When the page is submitted
    result = await _submit(hass, entry, _smtp_form(free_port()))

    # Then it cannot connect
    assert result["errors"] == {"base": "email_cannot_connect"}


async def test_a_working_sendgrid_key_is_saved_and_kept_when_left_empty(
    hass: HomeAssistant, sendgrid_api: SendGridServer, setup_hub: SetupHub
) -> None:
    # Given a running hub and a SendGrid key that may send mail
    entry = await setup_hub()
    form = _sendgrid_form()

    # When it is entered, and later the page is saved again with the key field empty
    first = await _submit(hass, entry, {**form, CONF_SENDGRID_API_KEY: SENDGRID_KEY})
    again = await _submit(hass, entry, form)

    # Then both are saved, the key only in the data, and nothing was sent
    assert first["type"] is FlowResultType.CREATE_ENTRY
    assert again["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_EMAIL_SERVICE] == "sendgrid"
    assert entry.data[CONF_SENDGRID_API_KEY] == SENDGRID_KEY
    assert CONF_SENDGRID_API_KEY not in entry.options
    assert sendgrid_api.mails == []


@pytest.mark.parametrize(
    ("key", "scopes", "errors"),
    [
        pytest.param("sk-not-sendgrid", ("mail.send",), {CONF_SENDGRID_API_KEY: "invalid_api_key"}),
        pytest.param(None, ("mail.send",), {CONF_SENDGRID_API_KEY: "invalid_api_key"}),
        pytest.param(
            "SG." + "w" * 22 + "." + "w" * 43, ("mail.send",), {"base": "email_invalid_auth"}
        ),
        pytest.param(SENDGRID_KEY, ("stats.read",), {"base": "email_sendgrid_scope"}),
    ],
    ids=["not a SendGrid key", "no key", "wrong key", "key that may not send"],
)
async def test_each_sendgrid_problem_is_named_on_the_form(
    hass: HomeAssistant,
    sendgrid_api: SendGridServer,
    setup_hub: SetupHub,
    key: str | None,
    scopes: tuple[str, ...],
    errors: dict[str, str],
) -> None:
    # Given a running hub and SendGrid knowing SENDGRID_KEY with these scopes
    entry = await setup_hub()
    sendgrid_api.scopes = scopes
    form = _sendgrid_form()
    if key is not None:
        form[CONF_SENDGRID_API_KEY] = key

    # When the page is submitted with that key
    result = await _submit(hass, entry, form)

    # Then the form names the problem and the key is not stored
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert CONF_SENDGRID_API_KEY not in entry.data


async def test_turning_email_off_needs_no_server(hass: HomeAssistant, setup_hub: SetupHub) -> None:
    # Given a running hub
    entry = await setup_hub()

    # When email is turned off (nothing else filled in)
    result = await _submit(
        hass,
        entry,
        {
            CONF_EMAIL_SERVICE: "off",
            CONF_SMTP_PORT: 587.0,
            CONF_SMTP_SECURITY: "starttls",
            CONF_SMTP_VERIFY_SSL: True,
        },
    )

    # Then it is saved without a check, and no secret is stored
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_EMAIL_SERVICE] == "off"
    assert entry.data.get(CONF_SMTP_PASSWORD) is None
    assert entry.data.get(CONF_SENDGRID_API_KEY) is None
