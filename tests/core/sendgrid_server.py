"""A local server that follows SendGrid's v3 Mail Send contract (for tests).

aiohttp on 127.0.0.1, port chosen by the OS:

- `POST /v3/mail/send`: `Authorization: Bearer <key>` must be the configured key (else 401
  with SendGrid's error body, 403 for a key without `mail.send`); the JSON body is checked
  as SendGrid checks it (personalizations with `to` addresses, `from.email`, `subject`,
  `content` with text/plain before text/html, attachments with base64 `content`, `filename`,
  and `content_id` when the disposition is inline), 400 with `{"errors": [...]}` otherwise;
  then 202 with an empty body. `status` scripts another answer (413, 429 with Retry-After,
  500).
- `GET /v3/scopes`: the key's scopes.

Every accepted mail body is recorded in `mails`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Self

from aiohttp import web


def _errors(*messages: str, status: int = 400) -> web.Response:
    return web.json_response(
        {"errors": [{"message": m, "field": None, "help": None} for m in messages]}, status=status
    )


def schema_problems(body: Any) -> list[str]:
    """What SendGrid would refuse in a Mail Send body."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["The request body must be a JSON object."]
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append("The personalizations field is required.")
    else:
        for p in personalizations:
            to = p.get("to") if isinstance(p, dict) else None
            if not isinstance(to, list) or not to or not all("@" in t.get("email", "") for t in to):
                problems.append("Each personalization needs to with valid email addresses.")
    if "@" not in str((body.get("from") or {}).get("email", "")):
        problems.append("The from email is required and must be valid.")
    if not str(body.get("subject") or ""):
        problems.append("The subject is required.")
    content = body.get("content")
    types = [c.get("type") for c in content] if isinstance(content, list) else []
    if not types or any(not c.get("value") for c in content):
        problems.append("Content with a non-empty value is required.")
    elif "text/plain" in types and types[0] != "text/plain":
        problems.append("If present, text/plain content must be first.")
    for attachment in body.get("attachments", []):
        try:
            base64.b64decode(attachment.get("content", ""), validate=True)
        except (binascii.Error, ValueError):
            problems.append("The attachment content must be base64 encoded.")
        if not attachment.get("filename"):
            problems.append("The attachment filename is required.")
        if attachment.get("disposition") == "inline" and not attachment.get("content_id"):
            problems.append("The content_id is required when the disposition is inline.")
    return problems


class SendGridServer:
    """Use as an async context manager; `url` is the API base to give the client."""

    def __init__(self, api_key: str, scopes: tuple[str, ...] = ("mail.send",)) -> None:
        self.api_key = api_key
        self.scopes = scopes
        # The status to answer Mail Send with (202: accept); `retry_after` for 429.
        self.status = 202
        self.retry_after: str | None = None
        self.mails: list[dict[str, Any]] = []
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v3/mail/send", self._send)
        app.router.add_get("/v3/scopes", self._scopes)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        """The API base (what https://api.sendgrid.com is in production)."""
        return f"http://127.0.0.1:{self.port}"

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _send(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorized(request):
            return _errors("The provided authorization grant is invalid.", status=401)
        if "mail.send" not in self.scopes:
            return _errors("access forbidden", status=403)
        if self.status == 429:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.json_response(
                {"errors": [{"message": "too many requests"}]}, status=429, headers=headers
            )
        if self.status != 202:
            return _errors(f"scripted {self.status}", status=self.status)
        body = await request.json()
        if problems := schema_problems(body):
            return _errors(*problems)
        self.mails.append(body)
        return web.Response(status=202)

    async def _scopes(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _errors("authorization required", status=401)
        return web.json_response({"scopes": list(self.scopes)})
