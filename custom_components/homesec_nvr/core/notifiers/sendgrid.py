"""Alert emails through SendGrid's v3 Mail Send API (what the seed HomeSec used).

`POST /v3/mail/send` with `Authorization: Bearer <key>` and the JSON body SendGrid documents
(personalizations, from, subject, content: text/plain first then text/html, attachments; the
snapshot as an inline attachment whose content_id the HTML shows). 202 means accepted.
401/403: the key is wrong or lacks the `mail.send` permission; 400/413: the message itself is
refused; 429 (its Retry-After honoured) and 5xx: try again later. The key is never logged.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import aiohttp

from .email_message import EmailContent, EmailError, EmailRefusedError

API_BASE = "https://api.sendgrid.com"
MAIL_SEND_PATH = "/v3/mail/send"
SCOPES_PATH = "/v3/scopes"
# SendGrid keys look like `SG.<22 characters>.<43 characters>`.
_KEY = re.compile(r"SG\.[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{16,64}")
_TIMEOUT = aiohttp.ClientTimeout(total=30)


def valid_api_key(key: str) -> bool:
    """Whether a string has the shape of a SendGrid API key."""
    return _KEY.fullmatch(key) is not None


def mail_body(content: EmailContent, sender: str, recipients: tuple[str, ...]) -> dict[str, Any]:
    """The Mail Send request body."""
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": r} for r in recipients]}],
        "from": {"email": sender, "name": "HomeSec"},
        "subject": content.subject,
        "content": [
            {"type": "text/plain", "value": content.text},
            {"type": "text/html", "value": content.html},
        ],
    }
    if content.snapshot_jpeg:
        body["attachments"] = [
            {
                "content": base64.b64encode(content.snapshot_jpeg).decode("ascii"),
                "type": "image/jpeg",
                "filename": content.snapshot_filename,
                "disposition": "inline",
                "content_id": content.content_id,
            }
        ]
    return body


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from Retry-After, or from SendGrid's X-RateLimit-Reset (Unix time)."""
    value = headers.get("Retry-After")
    if value and value.strip().isdigit():
        return float(value.strip())
    reset = headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset.strip()) - time.time())
    return None


async def _error_text(response: aiohttp.ClientResponse) -> str:
    """SendGrid's own explanation (`{"errors": [{"message": ...}]}`), shortened."""
    try:
        data = await response.json(content_type=None)
        text = "; ".join(str(e.get("message")) for e in data.get("errors", []) if e)
    except (aiohttp.ClientError, ValueError, AttributeError, TimeoutError):
        text = ""
    return text[:300] or response.reason or ""


def _failure(status: int, text: str, retry_after_s: float | None) -> EmailError | EmailRefusedError:
    where = f"SendGrid answered {status}"
    if status in (401, 403):
        return EmailRefusedError(
            f"{where}: the API key is wrong or may not send mail", "invalid_auth"
        )
    if status == 429:
        return EmailError(f"{where}: too many requests", retry_after_s=retry_after_s)
    if status >= 500:
        return EmailError(f"{where}: {text}", retry_after_s=retry_after_s)
    if status == 413:
        return EmailRefusedError(f"{where}: the email is too large", "cannot_connect")
    return EmailRefusedError(f"{where}: {text}", "invalid_email")


class SendGridTransport:
    """Sends alert emails with one API key."""

    name = "email_sendgrid"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        sender: str,
        recipients: tuple[str, ...],
        api_base: str = API_BASE,
    ) -> None:
        self._session = session
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._sender = sender
        self._recipients = recipients
        self._base = api_base.rstrip("/")

    async def deliver(self, content: EmailContent) -> None:
        """POST the email; raise EmailError (retryable) or EmailRefusedError."""
        await self._request(
            "POST", MAIL_SEND_PATH, mail_body(content, self._sender, self._recipients)
        )

    async def check(self) -> None:
        """Whether the key works and may send mail (GET /v3/scopes needs no extra scope)."""
        answer = await self._request("GET", SCOPES_PATH)
        scopes = answer.get("scopes") if isinstance(answer, dict) else None
        if not isinstance(scopes, list) or "mail.send" not in scopes:
            raise EmailRefusedError("The SendGrid API key may not send mail", "sendgrid_scope")

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call; its JSON answer (None when it has none)."""
        try:
            async with self._session.request(
                method, self._base + path, json=body, headers=self._headers, timeout=_TIMEOUT
            ) as response:
                if response.status not in (200, 202):
                    raise _failure(
                        response.status, await _error_text(response), _retry_after(response.headers)
                    )
                if response.status == 202:
                    return None
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise EmailError(f"SendGrid cannot be reached: {err or type(err).__name__}") from err
