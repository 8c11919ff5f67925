"""A local server that speaks the OpenAI chat-completions contract (for tests).

aiohttp on 127.0.0.1, port chosen by the OS. It serves:

- `POST /v1/chat/completions`: checks the API key (when one is set), the model (unknown ->
  404 `model_not_found`, as OpenAI answers) and the `response_format` type (types the server
  does not accept -> an error like the ones OpenAI, vLLM or FastAPI-based servers give), then
  answers with the next scripted `Reply` or, when the script is empty, a valid analysis.
  Answers carry a `usage` block.
- `GET /v1/models`: the configured model list (or a scripted error status).

Every request is recorded (`requests`, `chat_bodies`). Use it as an async context manager:

    async with OpenAIServer() as server:
        server.script(Reply(status=429, headers={"Retry-After": "7"}))
        ... AsyncOpenAI(base_url=server.url, ...) ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

DEFAULT_MODEL = "test-vision-model"


def analysis_json(**overrides: Any) -> str:
    """A valid analysis answer, with fields replaced by `overrides`."""
    data: dict[str, Any] = {
        "observations": ["A person walks up to the front door", "They leave a parcel"],
        "entities": [
            {
                "type": "person",
                "first_seen_s": 0.5,
                "last_seen_s": 3.0,
                "description": "adult in a blue jacket",
                "movement": "approaches the door, then leaves",
                "location": "front porch",
                "interaction": "puts a parcel down",
            }
        ],
        "summary": "A courier delivered a parcel to the front door.",
        "activity_type": "delivery",
        "risk_level": "low",
        "requires_review": False,
    }
    data.update(overrides)
    return json.dumps(data)


@dataclass
class Reply:
    """One scripted answer to a chat-completions request.

    `status` 200 answers with a completion whose message content is `content` (default: a valid
    analysis); any other status answers with an OpenAI-style error body built from
    `error_message`, `error_code`, `error_type` and `error_param` (or `raw_body` verbatim).
    """

    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    prompt_tokens: int = 1200
    completion_tokens: int = 150
    include_usage: bool = True
    finish_reason: str = "stop"
    refusal: str | None = None
    model: str | None = None
    error_message: str = "error"
    error_code: str | None = None
    error_type: str = "invalid_request_error"
    error_param: str | None = None
    raw_body: str | None = None
    content_type: str = "text/plain"


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    received_at: float


class OpenAIServer:
    """Scriptable OpenAI-compatible server on 127.0.0.1."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.replies: deque[Reply] = deque()
        self.default_content = analysis_json()
        self.models: list[str] = [DEFAULT_MODEL]
        # When set, requests must carry `Authorization: Bearer <api_key>`.
        self.api_key: str | None = None
        # response_format types the server accepts ("none" = no response_format at all).
        self.accepted_formats: set[str] = {"json_schema", "json_object", "text", "none"}
        # How a refused response_format is answered: 400 (OpenAI/vLLM style) or 422 (FastAPI).
        self.format_rejection_status = 400
        # GET /v1/models answers this status (e.g. 404 for servers that cannot list models).
        self.models_status = 200
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port)."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Wake slow handlers and stop listening."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- test API ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL clients use (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue answers for the next chat-completions requests (then the default again)."""
        self.replies.extend(replies)

    @property
    def chat_bodies(self) -> list[dict[str, Any]]:
        """JSON bodies of the chat-completions requests, in order."""
        return [
            r.body for r in self.requests if r.path == "/v1/chat/completions" and r.body is not None
        ]

    # -- handlers ----------------------------------------------------------------------

    async def _record(self, request: web.Request) -> dict[str, Any] | None:
        body: dict[str, Any] | None = None
        if request.can_read_body:
            raw = await request.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers=dict(request.headers),
                body=body,
                received_at=time.monotonic(),
            )
        )
        return body

    def _auth_error(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if given == self.api_key:
            return None
        # Worst case for secrecy: the server echoes the key it was given.
        return _error(401, f"Incorrect API key provided: {given}.", code="invalid_api_key")

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (denied := self._auth_error(request)) is not None:
            return denied
        if self.models_status != 200:
            return web.Response(status=self.models_status, text="404 page not found")
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1700000000, "owned_by": "test"}
                    for m in self.models
                ],
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if (denied := self._auth_error(request)) is not None:
            return denied
        if body is None:
            return _error(400, "We could not parse the JSON body of your request.")
        model = str(body.get("model", ""))
        if model not in self.models:
            return _error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        response_format = body.get("response_format")
        kind = response_format.get("type") if isinstance(response_format, dict) else "none"
        if kind not in self.accepted_formats:
            return self._format_rejection(str(kind))
        reply = self.replies.popleft() if self.replies else Reply()
        if reply.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay_s)
        if reply.raw_body is not None:
            return web.Response(
                status=reply.status,
                text=reply.raw_body,
                content_type=reply.content_type,
                headers=reply.headers,
            )
        if reply.status != 200:
            return _error(
                reply.status,
                reply.error_message,
                code=reply.error_code,
                error_type=reply.error_type,
                param=reply.error_param,
                headers=reply.headers,
            )
        content = reply.content if reply.content is not None else self.default_content
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None if reply.refusal else content,
                        "refusal": reply.refusal,
                    },
                    "finish_reason": reply.finish_reason,
                }
            ],
        }
        if reply.include_usage:
            payload["usage"] = {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            }
        return web.json_response(payload, headers=reply.headers)

    def _format_rejection(self, kind: str) -> web.Response:
        if self.format_rejection_status == 422:
            # FastAPI / pydantic validation error, as several local servers answer.
            return web.json_response(
                {
                    "detail": [
                        {
                            "type": "literal_error",
                            "loc": ["body", "response_format", "type"],
                            "msg": "Input should be 'text' or 'json_object'",
                            "input": kind,
                        }
                    ]
                },
                status=422,
            )
        return _error(
            self.format_rejection_status,
            f"Invalid parameter: 'response_format' of type '{kind}' is not supported with "
            "this model.",
            param="response_format",
        )


def _error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error answer in OpenAI's shape."""
    return web.json_response(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}},
        status=status,
        headers=headers,
    )
