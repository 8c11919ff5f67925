"""Alert emails over SMTP to a real aiosmtpd server: plain, STARTTLS and implicit TLS, with
and without login; a wrong password, an untrusted certificate, a refused recipient and a
server that is down each fail the way the runner needs (retry or not, clear message)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.interfaces import PermanentError, PipelineError
from custom_components.homesec_nvr.core.notifiers.email_message import EmailContent
from custom_components.homesec_nvr.core.notifiers.smtp import (
    SmtpSecurity,
    SmtpSettings,
    SmtpTransport,
    check_blocking,
)

from .email_samples import CLIP_URL, JPEG, sample_content
from .smtp_server import REFUSED_DOMAIN, Received, SmtpServer, TestCA, free_port

USERS = {"cams@example.com": "correct horse"}


@pytest.fixture(autouse=True)
def _sockets(socket_enabled: None) -> None:
    """Real connections to 127.0.0.1 (the harness blocks sockets otherwise)."""


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    """A CA made for the test and a certificate for 127.0.0.1."""
    return TestCA(tmp_path)


def _settings(
    server: SmtpServer | int,
    security: SmtpSecurity = SmtpSecurity.NONE,
    context: ssl.SSLContext | None = None,
    password: str | None = None,
    recipients: tuple[str, ...] = ("owner@example.com",),
) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=server if isinstance(server, int) else server.port,
        security=security,
        sender="cams@example.com",
        recipients=recipients,
        ssl_context=context,
        username="cams@example.com" if password is not None else None,
        password=password,
        timeout_s=5,
    )


async def _send(settings: SmtpSettings, content: EmailContent | None = None) -> None:
    transport = SmtpTransport(settings, lambda job: asyncio.to_thread(job))
    await transport.deliver(content or sample_content())


def _assert_is_the_alert(received: Received, recipients: tuple[str, ...]) -> None:
    content = sample_content()
    message = received.message
    assert received.mail_from == "cams@example.com"
    assert received.rcpt_tos == list(recipients)
    assert message["From"] == "HomeSec <cams@example.com>"
    assert message["To"] == ", ".join(recipients)
    assert message["Subject"] == "HIGH RISK at Porch"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert f"Open the clip: {CLIP_URL}" in text.get_content()
    assert "A person rings the bell." in html.get_content()
    images = [p for p in message.walk() if p.get_content_type() == "image/jpeg"]
    assert len(images) == 1
    assert images[0]["Content-ID"] == f"<{content.content_id}>"
    assert f'src="cid:{content.content_id}"' in html.get_content()
    assert images[0].get_payload(decode=True) == JPEG


async def test_a_plain_relay_without_login_gets_the_whole_alert() -> None:
    # Given a mail relay in the local network (no encryption, no login)
    with SmtpServer() as server:
        # When an alert email goes to two recipients
        recipients = ("owner@example.com", "partner@example.com")
        await _send(_settings(server, recipients=recipients))

    # Then one message arrived for both, with both bodies, the inline snapshot and the link
    assert len(server.messages) == 1
    _assert_is_the_alert(server.messages[0], recipients)
    assert server.messages[0].authenticated_as is None


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize(
    ("security", "server_kwargs"),
    [
        (SmtpSecurity.STARTTLS, {"starttls": True}),
        # aiosmtpd's auth_require_tls counts STARTTLS only; this connection is TLS anyway.
        (SmtpSecurity.TLS, {"implicit_tls": True, "auth_require_tls": False}),
    ],
)
async def test_an_encrypted_server_with_login_gets_the_alert(
    ca: TestCA, security: SmtpSecurity, server_kwargs: dict[str, bool]
) -> None:
    # Given a server that needs TLS (STARTTLS on a plain port, or TLS from the start) and a
    # login, whose certificate the client verifies against the test CA
    with SmtpServer(ca, users=USERS, **server_kwargs) as server:
        # When an alert email is sent with the right password
        await _send(_settings(server, security, ca.client_context(), "correct horse"))

    # Then it arrived, sent by the logged-in user
    assert len(server.messages) == 1
    _assert_is_the_alert(server.messages[0], ("owner@example.com",))
    assert server.messages[0].authenticated_as == "cams@example.com"


async def test_a_wrong_password_is_permanent_and_names_no_secret(ca: TestCA) -> None:
    # Given a STARTTLS server with a login
    # When the password is wrong
    with (
        SmtpServer(ca, starttls=True, users=USERS) as server,
        pytest.raises(PermanentError) as caught,
    ):
        await _send(_settings(server, SmtpSecurity.STARTTLS, ca.client_context(), "wrong pw"))

    # Then the failure is not retried, says the login was refused and leaks no password
    assert caught.value.retryable is False
    assert getattr(caught.value, "key", None) == "invalid_auth"
    assert "refused the login (535)" in str(caught.value)
    assert "wrong pw" not in str(caught.value)
    assert server.messages == []


async def test_a_login_on_a_plain_connection_that_needs_tls_first_is_refused() -> None:
    # Given a server that offers AUTH only after TLS, but the user chose no encryption
    # When an alert is sent with a login
    with (
        SmtpServer(users=USERS, auth_require_tls=True) as server,
        pytest.raises(PermanentError) as caught,
    ):
        await _send(_settings(server, SmtpSecurity.NONE, password="correct horse"))

    # Then it fails for good, hinting at the security setting
    assert getattr(caught.value, "key", None) == "invalid_auth"
    assert "STARTTLS or TLS" in str(caught.value)


async def test_an_untrusted_certificate_is_refused(ca: TestCA) -> None:
    # Given a TLS server whose certificate the default trust store does not know
    # When the client verifies with the system's CAs
    with SmtpServer(ca, implicit_tls=True) as server, pytest.raises(PermanentError) as caught:
        await _send(_settings(server, SmtpSecurity.TLS, ssl.create_default_context()))

    # Then it refuses to send (a TLS configuration error, not retried)
    assert getattr(caught.value, "key", None) == "tls_failed"
    assert "certificate is not trusted" in str(caught.value)
    assert server.messages == []


async def test_starttls_asked_of_a_server_without_it_fails_as_tls() -> None:
    # Given a plain server without STARTTLS
    # When the user chose STARTTLS
    with SmtpServer() as server, pytest.raises(PermanentError) as caught:
        await _send(_settings(server, SmtpSecurity.STARTTLS, ssl.create_default_context()))

    # Then the error says so
    assert getattr(caught.value, "key", None) == "tls_failed"
    assert "does not offer STARTTLS" in str(caught.value)


async def test_a_server_that_is_down_is_retried() -> None:
    # Given no server on the port
    port = free_port()

    # When an alert email is sent
    with pytest.raises(PipelineError) as caught:
        await _send(_settings(port))

    # Then the failure is retryable and names the server
    assert caught.value.retryable is True
    assert getattr(caught.value, "key", None) == "cannot_connect"
    assert f"127.0.0.1:{port} cannot be reached" in str(caught.value)


async def test_every_recipient_refused_is_permanent_some_refused_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a server that does not know the recipients at refused.example
    with SmtpServer() as server:
        # When every recipient is refused
        with pytest.raises(PermanentError) as caught:
            await _send(_settings(server, recipients=(f"nobody@{REFUSED_DOMAIN}",)))
        # And when one of two is refused
        with caplog.at_level(logging.WARNING):
            await _send(
                _settings(server, recipients=("owner@example.com", f"nobody@{REFUSED_DOMAIN}"))
            )

    # Then the first fails for good; the second reaches the one it can and warns of the other
    assert getattr(caught.value, "key", None) == "invalid_email"
    assert "refused every recipient ([550])" in str(caught.value)
    assert [m.rcpt_tos for m in server.messages] == [["owner@example.com"]]
    assert f"not accepted for nobody@{REFUSED_DOMAIN}: 550" in caplog.text


@pytest.mark.parametrize(
    ("password", "expected"),
    [("correct horse", None), ("wrong", "invalid_auth")],
)
async def test_the_settings_check_logs_in_without_sending(
    ca: TestCA, password: str, expected: str | None
) -> None:
    # Given a STARTTLS server with a login
    with SmtpServer(ca, starttls=True, users=USERS) as server:
        # When the settings are checked
        check: Callable[[], None] = lambda: check_blocking(  # noqa: E731
            _settings(server, SmtpSecurity.STARTTLS, ca.client_context(), password)
        )
        try:
            await asyncio.to_thread(check)
            key = None
        except PipelineError as err:
            key = getattr(err, "key", None)

    # Then a good login passes and a bad one is named; nothing was sent either way
    assert key == expected
    assert server.messages == []
