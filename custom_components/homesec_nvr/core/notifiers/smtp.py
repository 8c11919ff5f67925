"""Alert emails over SMTP with the standard library's smtplib (blocking: run it on a worker
thread, `run_blocking` does).

Security: `starttls` (port 587: plain connection, then STARTTLS before anything else),
`tls` (port 465: TLS from the first byte, "SMTPS") or `none` (a relay on the local network).
The TLS context is the caller's (Home Assistant's verifying client context, or one that does
not verify when the user chose so). The password is never part of an error or a log line.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from enum import StrEnum

from .email_message import EmailContent, EmailError, EmailRefusedError

_LOGGER = logging.getLogger(__name__)
type RunBlocking[T] = Callable[[Callable[[], T]], Awaitable[T]]


class SmtpSecurity(StrEnum):
    """How the connection is protected."""

    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


DEFAULT_PORTS = {SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465, SmtpSecurity.NONE: 25}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to send."""

    host: str
    port: int
    security: SmtpSecurity
    sender: str
    recipients: tuple[str, ...]
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 20.0


def mime_message(content: EmailContent, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """text/plain and text/html alternatives; the HTML part is multipart/related with the
    snapshot inline (its Content-ID is what the HTML's `cid:` points at)."""
    message = EmailMessage()
    message["Subject"] = content.subject
    message["From"] = formataddr(("HomeSec", sender))
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    # The same id for a clip on each attempt: a client shows a repeated delivery once.
    message["Message-ID"] = f"<{content.content_id.replace('snapshot-', 'alert-', 1)}>"
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    if content.snapshot_jpeg:
        html_part = next(p for p in message.iter_parts() if p.get_content_subtype() == "html")
        html_part.add_related(
            content.snapshot_jpeg,
            "image",
            "jpeg",
            cid=f"<{content.content_id}>",
            disposition="inline",
            filename=content.snapshot_filename,
        )
    return message


def _open(settings: SmtpSettings) -> smtplib.SMTP:
    """A connection that said EHLO, is encrypted as configured and logged in."""
    context = settings.ssl_context or ssl.create_default_context()
    # The name EHLO gives: smtplib would otherwise look up this machine's FQDN in DNS, which
    # can take many seconds on a home network.
    helo = socket.gethostname() or "localhost"
    client: smtplib.SMTP
    if settings.security is SmtpSecurity.TLS:
        client = smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            helo,
            timeout=settings.timeout_s,
            context=context,
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, helo, timeout=settings.timeout_s)
    try:
        client.ehlo()
        if settings.security is SmtpSecurity.STARTTLS:
            client.starttls(context=context)
            client.ehlo()
        if settings.username:
            client.login(settings.username, settings.password or "")
    except BaseException:
        client.close()
        raise
    return client


def _failure(settings: SmtpSettings, err: Exception) -> EmailError | EmailRefusedError | None:
    """What a failed connection, login or delivery means (retryable or not, form error);
    None for an error that is not the server's (a bug: it keeps its traceback)."""
    where = f"SMTP server {settings.host}:{settings.port}"
    if isinstance(err, smtplib.SMTPAuthenticationError):
        return EmailRefusedError(f"{where} refused the login ({err.smtp_code})", "invalid_auth")
    if isinstance(err, smtplib.SMTPNotSupportedError):
        if settings.security is SmtpSecurity.STARTTLS and "STARTTLS" in str(err):
            return EmailRefusedError(f"{where} does not offer STARTTLS", "tls_failed")
        return EmailRefusedError(
            f"{where} offers no login on this connection (choose STARTTLS or TLS?)",
            "invalid_auth",
        )
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _msg in err.recipients.values()})
        if all(code < 500 for code in codes):
            return EmailError(f"{where} deferred every recipient ({codes})")
        return EmailRefusedError(f"{where} refused every recipient ({codes})", "invalid_email")
    if isinstance(err, smtplib.SMTPSenderRefused):
        if err.smtp_code < 500:
            return EmailError(f"{where} deferred the sender ({err.smtp_code})")
        return EmailRefusedError(f"{where} refused the sender ({err.smtp_code})", "invalid_email")
    if isinstance(err, smtplib.SMTPResponseException):
        text = err.smtp_error.decode(errors="replace") if isinstance(err.smtp_error, bytes) else ""
        message = f"{where} answered {err.smtp_code} {text}".strip()
        if err.smtp_code >= 500:
            return EmailRefusedError(message, "cannot_connect")
        return EmailError(message)
    if isinstance(err, ssl.SSLCertVerificationError):
        return EmailRefusedError(
            f"{where}: its certificate is not trusted ({err.verify_message})", "tls_failed"
        )
    if isinstance(err, ssl.SSLError):
        return EmailError(f"{where}: TLS failed ({err.reason or err})", "tls_failed")
    if isinstance(err, smtplib.SMTPException | OSError):
        return EmailError(f"{where} cannot be reached: {_reason(err)}")
    return None


def _reason(err: Exception) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


def _with_session[T](settings: SmtpSettings, action: Callable[[smtplib.SMTP], T]) -> T:
    """Run `action` on an open connection; server failures become EmailError (retryable)
    or EmailRefusedError."""
    try:
        with _open(settings) as client:
            return action(client)
    except Exception as err:
        if (failure := _failure(settings, err)) is None:
            raise
        raise failure from err


def check_blocking(settings: SmtpSettings) -> None:
    """Connect, EHLO, STARTTLS and log in as configured, then quit (for the options form)."""
    _with_session(settings, lambda client: client.noop())


def send_blocking(settings: SmtpSettings, content: EmailContent) -> None:
    """Deliver one email."""
    message = mime_message(content, settings.sender, settings.recipients)
    refused = _with_session(
        settings,
        lambda client: client.send_message(message, settings.sender, list(settings.recipients)),
    )
    if refused:
        # Delivered to the others: retrying would send them a second copy.
        _LOGGER.warning(
            "Alert email for clip %s not accepted for %s: %s",
            content.clip_id,
            ", ".join(sorted(refused)),
            "; ".join(f"{code}" for code, _msg in refused.values()),
        )


class SmtpTransport:
    """Sends alert emails through one SMTP server."""

    name = "email_smtp"

    def __init__(self, settings: SmtpSettings, run_blocking: RunBlocking[None]) -> None:
        self.settings = settings
        self._run_blocking = run_blocking

    async def deliver(self, content: EmailContent) -> None:
        """Send on a worker thread."""
        await self._run_blocking(lambda: send_blocking(self.settings, content))
