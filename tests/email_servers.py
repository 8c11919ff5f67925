"""Fixtures: a real SMTP server (aiosmtpd, STARTTLS with a login) and SendGrid's contract,
where Home Assistant's HomeSec sends. Load with `pytest_plugins = ["tests.email_servers"]`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.notifiers import sendgrid

from .core.email_samples import SENDGRID_KEY, SMTP_USERS
from .core.sendgrid_server import SendGridServer
from .core.smtp_server import SmtpServer, TestCA


@pytest.fixture
def smtp(tmp_path: Path, socket_enabled: None) -> Generator[SmtpServer]:
    """A STARTTLS server with a login and a certificate of a CA Home Assistant does not know."""
    with SmtpServer(TestCA(tmp_path), starttls=True, users=SMTP_USERS) as server:
        yield server


@pytest.fixture
async def sendgrid_api(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[SendGridServer]:
    """SendGrid's contract on 127.0.0.1, where HomeSec's client is pointed (tests only)."""
    async with SendGridServer(SENDGRID_KEY) as server:
        monkeypatch.setattr(sendgrid, "API_BASE", server.url)
        yield server
