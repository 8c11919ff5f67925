"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 (a free port), in its own thread.

Plain, STARTTLS (`starttls=True`: STARTTLS offered and required) or implicit TLS
(`implicit_tls=True`), with a certificate for 127.0.0.1 signed by a CA made for the test
(`TestCA`; clients trust it through `client_context()`). With `users`, AUTH PLAIN/LOGIN is
offered (only after TLS when `auth_require_tls`) and required. Recipients at
`refused.example` are refused with 550. Every accepted message is parsed into `messages`.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REFUSED_DOMAIN = "refused.example"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestCA:
    """A certificate authority and a server certificate for 127.0.0.1, in `folder`."""

    __test__ = False

    def __init__(self, folder: Path) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HomeSec test CA")])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(pem))
        self.cert_file = folder / "server.pem"
        self.cert_file.write_bytes(cert.public_bytes(pem))
        self.key_file = folder / "server.key"
        self.key_file.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )

    def server_context(self) -> ssl.SSLContext:
        """The server side."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client that trusts this CA only."""
        return ssl.create_default_context(cafile=str(self.ca_file))


@dataclass
class Received:
    """One accepted message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.endswith("@" + REFUSED_DOMAIN):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.login_data
        self.messages.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                authenticated_as=login.decode() if isinstance(login, bytes) else None,
            )
        )
        return "250 Message accepted"


class SmtpServer:
    """aiosmtpd in a thread; `with SmtpServer(...) as server:` starts and stops it."""

    def __init__(
        self,
        ca: TestCA | None = None,
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        users: dict[str, str] | None = None,
        auth_require_tls: bool = True,
    ) -> None:
        self.port = free_port()
        self._handler = _Handler()
        self._users = users or {}
        params: dict[str, Any] = {}
        if starttls:
            assert ca is not None
            params |= {"tls_context": ca.server_context(), "require_starttls": True}
        if self._users:
            params |= {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": auth_require_tls,
            }
        else:
            params["auth_require_tls"] = False
        self._controller = Controller(
            self._handler,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=ca.server_context() if implicit_tls and ca else None,
            server_hostname="127.0.0.1",
            **params,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            if self._users.get(user) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    @property
    def messages(self) -> list[Received]:
        """What arrived, in order."""
        return self._handler.messages

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()
