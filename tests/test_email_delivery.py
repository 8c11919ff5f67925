"""Email delivery end to end: a clip that alerts in a real Home Assistant becomes exactly one
email through a real SMTP server (aiosmtpd) or SendGrid's contract, with the snapshot inline
and a signed, absolute clip link that opens without a login."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.homesec_nvr.const import (
    CONF_EMAIL_FROM,
    CONF_EMAIL_SERVICE,
    CONF_EMAIL_TO,
    CONF_NOTIFY_ON_MOTION,
    CONF_SENDGRID_API_KEY,
    CONF_SMTP_HOST,
    CONF_SMTP_PASSWORD,
    CONF_SMTP_PORT,
    CONF_SMTP_SECURITY,
    CONF_SMTP_USERNAME,
    CONF_SMTP_VERIFY_SSL,
    DOMAIN,
)

from .conftest import SetupHub
from .core.email_samples import SENDGRID_KEY
from .core.sendgrid_server import SendGridServer
from .core.smtp_server import SmtpServer
from .helpers import process_clip

EXTERNAL_URL = "https://homesec.example.com"
pytest_plugins = ["tests.email_servers"]


@pytest.fixture
async def external_url(hass: HomeAssistant) -> None:
    """Home Assistant's external address (Settings > System > Network)."""
    await hass.config.async_update(external_url=EXTERNAL_URL)


def smtp_options(server: SmtpServer, **extra: Any) -> dict[str, Any]:
    """Hub options sending through `server` (its certificate is not verified); every clip
    alerts (the test cameras have neither filter nor vision model)."""
    return {
        CONF_NOTIFY_ON_MOTION: True,
        CONF_EMAIL_SERVICE: "smtp",
        CONF_EMAIL_FROM: "cams@example.com",
        CONF_EMAIL_TO: ["owner@example.com"],
        CONF_SMTP_HOST: "127.0.0.1",
        CONF_SMTP_PORT: server.port,
        CONF_SMTP_SECURITY: "starttls",
        CONF_SMTP_USERNAME: "cams@example.com",
        CONF_SMTP_VERIFY_SSL: False,
        **extra,
    }


async def test_an_alert_becomes_one_email_whose_link_opens_the_clip(
    hass: HomeAssistant,
    external_url: None,
    smtp: SmtpServer,
    setup_hub: SetupHub,
    incoming: Path,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    # Given HomeSec sending alert emails over STARTTLS with a login
    entry = await setup_hub(entry_data={CONF_SMTP_PASSWORD: "correct horse"}, **smtp_options(smtp))

    # When a clip of the front door alerts
    payload = await process_clip(hass, incoming / "door.mp4")

    # Then exactly one email arrived, with the snapshot inline and an absolute signed link
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received.authenticated_as == "cams@example.com"
    message = received.message
    assert message["To"] == "owner@example.com"
    assert message["Subject"] == "HomeSec: Front door"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    link = next(w for w in text.get_content().split() if w.startswith(EXTERNAL_URL))
    assert link.startswith(f"{EXTERNAL_URL}/api/homesec_nvr/clips/{payload['clip_id']}/clip?exp=")
    image = next(p for p in message.walk() if p.get_content_type() == "image/jpeg")
    assert image.get_payload(decode=True)[:2] == b"\xff\xd8"
    assert f"cid:{image['Content-ID'].strip('<>')}" in html.get_content()
    # ... the link (without its host) opens the stored clip without a login
    client = await hass_client_no_auth()
    response = await client.get(URL(link).path_qs)
    assert response.status == 200
    assert response.headers["Content-Type"] == "video/mp4"
    sent = await entry.runtime_data.store.notifications_sent(payload["clip_id"])
    assert "email_smtp" in sent


async def test_an_alert_goes_through_sendgrid_with_the_snapshot_inline(
    hass: HomeAssistant,
    external_url: None,
    sendgrid_api: SendGridServer,
    setup_hub: SetupHub,
    incoming: Path,
) -> None:
    # Given HomeSec sending alert emails through SendGrid to two people
    await setup_hub(
        entry_data={CONF_SENDGRID_API_KEY: SENDGRID_KEY},
        **{
            CONF_NOTIFY_ON_MOTION: True,
            CONF_EMAIL_SERVICE: "sendgrid",
            CONF_EMAIL_FROM: "cams@example.com",
            CONF_EMAIL_TO: ["owner@example.com", "partner@example.com"],
        },
    )

    # When a clip alerts
    payload = await process_clip(hass, incoming / "door.mp4")

    # Then SendGrid accepted one mail with the inline snapshot the HTML shows, and the link
    assert len(sendgrid_api.mails) == 1
    mail = sendgrid_api.mails[0]
    assert [t["email"] for t in mail["personalizations"][0]["to"]] == [
        "owner@example.com",
        "partner@example.com",
    ]
    (attachment,) = mail["attachments"]
    assert base64.b64decode(attachment["content"])[:2] == b"\xff\xd8"
    assert f"cid:{attachment['content_id']}" in mail["content"][1]["value"]
    assert (
        f"{EXTERNAL_URL}/api/homesec_nvr/clips/{payload['clip_id']}/clip?exp="
        in mail["content"][0]["value"]
    )


async def test_without_a_home_assistant_url_the_email_has_no_link_and_says_why(
    hass: HomeAssistant,
    smtp: SmtpServer,
    setup_hub: SetupHub,
    incoming: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given Home Assistant with no URL of its own (none set, listening on loopback only)
    await setup_hub(entry_data={CONF_SMTP_PASSWORD: "correct horse"}, **smtp_options(smtp))
    assert hass.config.api is not None
    hass.config.api.local_ip = "127.0.0.1"

    # When a clip alerts
    await process_clip(hass, incoming / "door.mp4")

    # Then the email still goes out, without a link, and the log says how to fix it
    assert len(smtp.messages) == 1
    text = smtp.messages[0].message.get_body(("plain",))
    assert text is not None
    assert "No link to the clip." in text.get_content()
    assert "Alert emails carry no clip link" in caplog.text


async def test_a_refused_login_raises_the_notifier_repair_issue(
    hass: HomeAssistant, external_url: None, smtp: SmtpServer, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a stored password the server no longer accepts
    entry = await setup_hub(entry_data={CONF_SMTP_PASSWORD: "old password"}, **smtp_options(smtp))

    # When a clip alerts
    await process_clip(hass, incoming / "door.mp4")

    # Then nothing was sent and the repair issue names email and the refused login
    assert smtp.messages == []
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"notifier_failing_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert "email_smtp" in issue.translation_placeholders["error"]
    assert "refused the login" in issue.translation_placeholders["error"]
    assert "old password" not in issue.translation_placeholders["error"]


async def test_diagnostics_hide_the_email_secrets_and_addresses(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, smtp: SmtpServer, setup_hub: SetupHub
) -> None:
    # Given a hub with an SMTP password and a SendGrid key stored
    entry = await setup_hub(
        entry_data={CONF_SMTP_PASSWORD: "correct horse", CONF_SENDGRID_API_KEY: SENDGRID_KEY},
        **smtp_options(smtp),
    )

    # When diagnostics are downloaded
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    # Then neither secret nor any address is in them
    dumped = str(diagnostics)
    for secret in ("correct horse", SENDGRID_KEY, "cams@example.com", "owner@example.com"):
        assert secret not in dumped
    assert diagnostics["entry"]["data"][CONF_SMTP_PASSWORD] == "**REDACTED**"
    assert diagnostics["entry"]["options"][CONF_EMAIL_TO] == "**REDACTED**"
