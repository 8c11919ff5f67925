"""Alert emails through SendGrid's v3 Mail Send API, against a local server that follows its
contract: the body SendGrid accepts, and each error answer mapped to retry or not."""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator

import aiohttp
import pytest

from custom_components.homesec_nvr.core.interfaces import PermanentError, PipelineError
from custom_components.homesec_nvr.core.notifiers.sendgrid import SendGridTransport, valid_api_key

from .email_samples import CLIP_URL, JPEG, sample_content
from .sendgrid_server import SendGridServer, schema_problems
from .smtp_server import free_port

API_KEY = "SG." + "a" * 22 + "." + "b" * 43
RECIPIENTS = ("owner@example.com", "partner@example.com")


@pytest.fixture
async def session(socket_enabled: None) -> AsyncGenerator[aiohttp.ClientSession]:
    """A client session (Home Assistant passes its shared one)."""
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def sendgrid(socket_enabled: None) -> AsyncGenerator[SendGridServer]:
    """The contract server with API_KEY."""
    async with SendGridServer(API_KEY) as server:
        yield server


def _transport(
    session: aiohttp.ClientSession, server: SendGridServer | str, key: str = API_KEY
) -> SendGridTransport:
    base = server if isinstance(server, str) else server.url
    return SendGridTransport(session, key, "cams@example.com", RECIPIENTS, api_base=base)


async def test_an_alert_is_accepted_with_both_bodies_and_the_inline_snapshot(
    session: aiohttp.ClientSession, sendgrid: SendGridServer
) -> None:
    # Given a SendGrid key that may send mail
    content = sample_content()

    # When an alert email is sent
    await _transport(session, sendgrid).deliver(content)

    # Then SendGrid accepted one mail in its schema, text first, the snapshot inline
    assert len(sendgrid.mails) == 1
    mail = sendgrid.mails[0]
    assert schema_problems(mail) == []
    assert mail["personalizations"] == [{"to": [{"email": r} for r in RECIPIENTS]}]
    assert mail["from"] == {"email": "cams@example.com", "name": "HomeSec"}
    assert mail["subject"] == "HIGH RISK at Porch"
    assert [c["type"] for c in mail["content"]] == ["text/plain", "text/html"]
    assert CLIP_URL in mail["content"][0]["value"]
    assert f'src="cid:{content.content_id}"' in mail["content"][1]["value"]
    (attachment,) = mail["attachments"]
    assert attachment["disposition"] == "inline"
    assert attachment["content_id"] == content.content_id
    assert attachment["type"] == "image/jpeg"
    assert base64.b64decode(attachment["content"]) == JPEG


@pytest.mark.parametrize(
    ("status", "retry_after", "retryable", "expected_wait", "text"),
    [
        (429, "7", True, 7.0, "too many requests"),
        (500, None, True, None, "answered 500"),
        (503, None, True, None, "answered 503"),
        (413, None, False, None, "too large"),
        (400, None, False, None, "scripted 400"),
    ],
)
async def test_error_answers_are_retried_or_not_as_they_mean(
    session: aiohttp.ClientSession,
    sendgrid: SendGridServer,
    status: int,
    retry_after: str | None,
    retryable: bool,
    expected_wait: float | None,
    text: str,
) -> None:
    # Given SendGrid answering with an error
    sendgrid.status = status
    sendgrid.retry_after = retry_after

    # When an alert email is sent
    with pytest.raises(PipelineError) as caught:
        await _transport(session, sendgrid).deliver(sample_content())

    # Then the failure is retried (honouring Retry-After) or not, with a clear message
    assert caught.value.retryable is retryable
    assert caught.value.retry_after_s == expected_wait
    assert text in str(caught.value)
    assert sendgrid.mails == []


@pytest.mark.parametrize("scopes", [("mail.send",), ("stats.read",)])
async def test_a_wrong_or_powerless_key_is_permanent_and_never_logged(
    session: aiohttp.ClientSession, scopes: tuple[str, ...]
) -> None:
    # Given a SendGrid whose key differs from ours (401), or ours lacks mail.send (403)
    wrong = "SG." + "c" * 22 + "." + "d" * 43
    async with SendGridServer(API_KEY if scopes == ("stats.read",) else wrong, scopes) as server:
        # When an alert email is sent
        with pytest.raises(PermanentError) as caught:
            await _transport(session, server).deliver(sample_content())

    # Then it is not retried, says the key is the problem and does not contain it
    assert getattr(caught.value, "key", None) == "invalid_auth"
    assert "API key is wrong or may not send mail" in str(caught.value)
    assert API_KEY not in str(caught.value)


async def test_sendgrid_unreachable_is_retried(session: aiohttp.ClientSession) -> None:
    # Given nothing listening where the API should be
    base = f"http://127.0.0.1:{free_port()}"

    # When an alert email is sent
    with pytest.raises(PipelineError) as caught:
        await _transport(session, base).deliver(sample_content())

    # Then it is retried later
    assert caught.value.retryable is True
    assert "SendGrid cannot be reached" in str(caught.value)


async def test_the_key_check_reads_the_key_scopes(
    session: aiohttp.ClientSession, sendgrid: SendGridServer
) -> None:
    # Given a key with mail.send, a wrong key, and a key without mail.send
    good = _transport(session, sendgrid)
    wrong = _transport(session, sendgrid, "SG." + "x" * 22 + "." + "y" * 43)

    # When each is checked
    await good.check()
    with pytest.raises(PermanentError) as refused:
        await wrong.check()
    sendgrid.scopes = ("stats.read",)
    with pytest.raises(PermanentError) as powerless:
        await good.check()

    # Then the good one passes, the others are named; nothing was sent
    assert getattr(refused.value, "key", None) == "invalid_auth"
    assert getattr(powerless.value, "key", None) == "sendgrid_scope"
    assert sendgrid.requests == 0


def test_only_keys_of_sendgrid_shape_are_valid() -> None:
    # Given strings a user may paste
    # When they are checked
    # Then only the SG.<id>.<secret> shape passes
    assert valid_api_key(API_KEY)
    assert not valid_api_key("")
    assert not valid_api_key("sk-" + "a" * 40)
    assert not valid_api_key(API_KEY + " ")
