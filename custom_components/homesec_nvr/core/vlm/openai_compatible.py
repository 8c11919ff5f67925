"""Vision analysis through any OpenAI-compatible chat-completions server.

OpenAI, Ollama, LM Studio, vLLM, llama.cpp, OpenRouter ... all speak the same contract; they
differ in how much of it they support. The analyzer:

- prepares the frames in a worker thread (never on the event loop), see `frames`;
- asks for strict structured output (`json_schema`), and falls back to `json_object`, then to
  the schema in the prompt, when a server rejects that; the working mode is remembered
  (`response_mode`) so later clips go straight to it. It also adapts to models that refuse
  `max_tokens` (use `max_completion_tokens`) or a custom `temperature`;
- parses the answer tolerantly and, when it is still not a valid analysis, asks once more with
  the validation errors; a second invalid answer raises `VLMInvalidOutput`;
- never retries by itself (the SDK runs with `max_retries=0`): failures are mapped to
  `PipelineError`s and the runner owns retries and backoff (`retry_after_s` from Retry-After);
- counts calls and tokens in a `UsageTracker` and refuses to start once the daily budget is
  spent (`StageSkipped("budget_exhausted")`).

Error messages never contain the API key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import json
import logging
import math
import threading
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

import openai
from openai import AsyncOpenAI
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionContentPartParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
    completion_create_params,
)
from openai.types.shared_params import ResponseFormatJSONObject, ResponseFormatJSONSchema

from ..interfaces import IncidentClip, PermanentError, PipelineError, VLMAnalyzer
from ..models import AnalysisResult, Clip, FilterResult
from .frames import PreparedFrames, prepare_frames
from .incident import (
    IncidentPart,
    build_incident_content,
    build_parts,
    incident_camera,
    incident_duration,
    incident_frames_job,
    incident_start,
)
from .openai_sdk import NOT_GIVEN, HttpClient, NotGiven
from .prompt import CameraContext, build_system_prompt, build_user_content, correction_text
from .schema import SCHEMA_NAME, AnalysisValidationError, analysis_json_schema, parse_analysis
from .usage import UsageLimits, UsageTracker

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

BACKEND_NAME = "openai_compatible"
# Local servers need no key, but the SDK insists on one.
PLACEHOLDER_API_KEY = "no-key-required"
# Longest server error text kept in a message.
_MAX_DETAIL_CHARS = 300
# Request shape adaptations (response mode, token parameter, temperature) within one request.
_MAX_ADAPTATIONS = 4
# Answers up to this long are parsed on the event loop (well under a millisecond); longer
# ones in the executor.
_PARSE_INLINE_CHARS = 16 * 1024
# Tokens one request can report (far above any model's context); beyond is a broken server.
MAX_TOKEN_COUNT = 100_000_000

_FORMAT_WORDS = (
    "response_format",
    "response format",
    "responseformat",
    "json_schema",
    "json schema",
    "json_object",
    "structured output",
    "structured_output",
)
_MODEL_MISSING_PHRASES = (
    "not found",
    "does not exist",
    "not exist",
    "unknown model",
    "no such model",
    "not a valid model",
    "invalid model",
    "not available",
    "try pulling",
)
_IMAGE_WORDS = ("image", "vision", "multimodal", "multi-modal")


class ResponseMode(StrEnum):
    """How the answer's JSON shape is requested from the server."""

    JSON_SCHEMA = "json_schema"  # response_format json_schema, strict
    JSON_OBJECT = "json_object"  # response_format json_object + the schema in the prompt
    PROMPT = "prompt"  # no response_format; the schema in the prompt


_FALLBACK: dict[ResponseMode, ResponseMode] = {
    ResponseMode.JSON_SCHEMA: ResponseMode.JSON_OBJECT,
    ResponseMode.JSON_OBJECT: ResponseMode.PROMPT,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class VLMSettings:
    """Connection and request settings of the OpenAI-compatible analyzer."""

    base_url: str
    api_key: str | None = None
    model: str
    max_frames: int = 8
    max_image_side: int = 1024
    jpeg_quality: int = 80
    # "low", "high" or "auto" (anything else is sent as "auto").
    image_detail: str = "auto"
    request_timeout_s: float = 60.0
    max_output_tokens: int = 1024
    temperature: float = 0.2
    # A language code ("de", "pt-BR") or name ("German") for the free-text fields.
    response_language: str = "en"
    # The owner's notes for every camera (quoted in the prompt's household notes section).
    household_notes: str = ""
    price_prompt_per_million: float = 0.0
    price_completion_per_million: float = 0.0
    # Daily budget (0 = unlimited), used when the analyzer builds its own UsageTracker.
    max_calls_per_day: int = 0
    max_tokens_per_day: int = 0

    def usage_limits(self) -> UsageLimits:
        """The budget and prices as UsageTracker limits."""
        return UsageLimits(
            max_calls_per_day=self.max_calls_per_day,
            max_tokens_per_day=self.max_tokens_per_day,
            price_prompt_per_million=self.price_prompt_per_million,
            price_completion_per_million=self.price_completion_per_million,
        )


# -- errors ---------------------------------------------------------------------------------


class VLMError(PipelineError):
    """A failed vision model request; `reason` is a stable machine-readable string."""

    reason: str = "vlm_error"

    def __init__(
        self, message: str, *, reason: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        if reason is not None:
            self.reason = reason


class VLMUnavailable(VLMError):
    """Timeout, connection error or server error (5xx): worth retrying."""

    reason = "cannot_connect"


class VLMRateLimited(VLMError):
    """HTTP 429; `retry_after_s` carries the server's Retry-After when it sent one."""

    reason = "rate_limited"


class VLMInvalidOutput(VLMError):
    """The model's answer was not a valid analysis, twice (or it refused)."""

    retryable = False
    reason = "invalid_output"


class VLMPermanentError(VLMError, PermanentError):
    """A request the server will keep rejecting (configuration problem)."""

    reason = "request_rejected"


class VLMAuthError(VLMPermanentError):
    """HTTP 401/403: the API key is missing, wrong or not allowed."""

    reason = "invalid_auth"


class VLMModelNotFound(VLMPermanentError):
    """The server does not know the configured model."""

    reason = "model_not_found"


# -- helpers --------------------------------------------------------------------------------


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        with contextlib.suppress(ValueError):
            if math.isfinite(milliseconds := float(raw_ms)):
                return max(0.0, milliseconds / 1000)
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    reference = now or datetime.now(when.tzinfo)
    return max(0.0, (when - reference).total_seconds())


def _error_detail(err: openai.APIError) -> str:
    """The server's own error message (from the body), else the SDK's."""
    body = err.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail") or body.get("error")
        text = message if isinstance(message, str) else json.dumps(body, default=str)
    elif isinstance(body, str) and body.strip():
        text = body
    elif body is not None:
        text = json.dumps(body, default=str)
    else:
        text = err.message
    return " ".join(text.split())


def _count(value: object) -> int:
    """A token count from a usage block (servers send null, floats or nothing; a broken one
    NaN, Infinity or hundreds of digits): 0 when unusable, at most MAX_TOKEN_COUNT."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return min(MAX_TOKEN_COUNT, max(0, int(value)))


def _model_matches(configured: str, listed: str) -> bool:
    """`llava` matches `llava:latest` (Ollama), case-insensitively."""
    a, b = configured.strip().lower(), listed.strip().lower()
    return a == b or f"{a}:latest" == b or a == f"{b}:latest"


@dataclass(slots=True)
class _Tokens:
    prompt: int = 0
    completion: int = 0


@dataclass(slots=True)
class _RequestShape:
    """What this server accepts, learned from its rejections."""

    mode: ResponseMode = ResponseMode.JSON_SCHEMA
    limit_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    send_temperature: bool = True
    notes: list[str] = field(default_factory=list)


class _Client:
    """The SDK client plus the mapping of its errors; shared by analyze and validation."""

    def __init__(self, settings: VLMSettings, http_client: HttpClient) -> None:
        self.settings = settings
        self.sdk = AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or PLACEHOLDER_API_KEY,
            http_client=http_client,
            max_retries=0,
            timeout=settings.request_timeout_s,
        )
        self._ready = False

    async def ensure_ready(self) -> None:
        """Build the SDK's platform headers and import its lazily loaded resources in a worker
        thread (both read files once), so no request does either on the event loop."""
        if not self._ready:
            await asyncio.get_running_loop().run_in_executor(None, self._prepare)
            self._ready = True

    def _prepare(self) -> None:
        """Blocking: what the first request would otherwise do on the event loop."""
        self.sdk.platform_headers()
        _ = self.sdk.chat.completions  # imports openai.resources.chat
        _ = self.sdk.models  # imports openai.resources.models

    def redact(self, text: str) -> str:
        """The text with the API key masked and its length capped."""
        key = self.settings.api_key
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        if len(text) > _MAX_DETAIL_CHARS:
            text = text[:_MAX_DETAIL_CHARS] + "..."
        return text

    @property
    def where(self) -> str:
        return self.settings.base_url.rstrip("/")

    def detail(self, err: openai.APIError) -> str:
        return self.redact(_error_detail(err))

    def transport_error(self, err: Exception) -> VLMError:
        """Map an SDK error that carries no HTTP status."""
        timeout = self.settings.request_timeout_s
        if isinstance(err, openai.APITimeoutError | TimeoutError):
            return VLMUnavailable(
                f"vision model request to {self.where} timed out after {timeout:g} s"
            )
        if isinstance(err, openai.APIConnectionError):
            cause = err.__cause__ or err
            return VLMUnavailable(
                f"cannot connect to the vision model server at {self.where}: "
                f"{self.redact(str(cause) or type(cause).__name__)}"
            )
        if isinstance(err, openai.APIResponseValidationError):
            return self.not_a_completion()
        return VLMUnavailable(f"vision model request failed: {self.redact(str(err))}")

    def not_a_completion(self) -> VLMPermanentError:
        """A 200 answer that is not an OpenAI chat completion (wrong base URL?)."""
        return VLMPermanentError(
            f"{self.where} answered with something that is not an OpenAI chat completion; "
            "check the base URL (it usually ends in /v1)",
            reason="bad_response",
        )

    def status_error(self, err: openai.APIStatusError) -> VLMError:
        """Map an HTTP error answer to a typed PipelineError."""
        status = err.status_code
        detail = self.detail(err)
        text = detail.lower()
        model = self.settings.model
        retry_after = retry_after_seconds(err.response.headers)
        if status in (401, 403):
            return VLMAuthError(
                f"the vision model server at {self.where} rejected the API key "
                f"(HTTP {status}): {detail}"
            )
        if status == 429:
            if err.code == "insufficient_quota":
                return VLMPermanentError(
                    f"the vision model account has no quota left (HTTP 429): {detail}",
                    reason="quota_exceeded",
                )
            return VLMRateLimited(
                f"the vision model server is rate limiting (HTTP 429): {detail}",
                retry_after_s=retry_after,
            )
        if status >= 500 or status in (408, 409):
            return VLMUnavailable(
                f"the vision model server failed (HTTP {status}): {detail}",
                retry_after_s=retry_after,
            )
        if err.code == "model_not_found" or (
            status in (400, 404)
            and "model" in text
            and any(phrase in text for phrase in _MODEL_MISSING_PHRASES)
        ):
            return VLMModelNotFound(
                f"model {model!r} is not available on {self.where} (HTTP {status}): {detail}"
            )
        if any(word in text for word in _IMAGE_WORDS):
            return VLMPermanentError(
                f"the server rejected the images (HTTP {status}; does model {model!r} accept "
                f"images?): {detail}",
                reason="images_rejected",
            )
        if status == 404:
            return VLMPermanentError(
                f"{self.where} has no chat completions endpoint (HTTP 404); check the base URL "
                f"(it usually ends in /v1): {detail}",
                reason="not_found",
            )
        return VLMPermanentError(
            f"the vision model server rejected the request (HTTP {status}): {detail}"
        )


def _rejects_response_format(err: openai.APIStatusError) -> bool:
    if err.status_code not in (400, 404, 415, 422, 501):
        return False
    text = _error_detail(err).lower()
    return any(word in text for word in _FORMAT_WORDS) or (err.param or "").startswith(
        "response_format"
    )


def _rejects_param(err: openai.APIStatusError, name: str) -> bool:
    if err.status_code not in (400, 422):
        return False
    if err.param == name:
        return True
    text = _error_detail(err).lower()
    return name in text and any(
        word in text for word in ("unsupported", "not support", "unrecognized", "unknown")
    )


# -- analyzer -------------------------------------------------------------------------------


def clip_camera_context(lookup: Callable[[str], CameraContext] | None, clip: Clip) -> CameraContext:
    """The prompt context of a clip's camera (its name alone when the lookup lacks it)."""
    if lookup is not None:
        try:
            return lookup(clip.camera_id)
        except KeyError:
            pass
    return CameraContext(name=clip.camera_name)


def clip_frames_job(
    settings: VLMSettings, clip: Clip, filter_result: FilterResult, stop: threading.Event
) -> Callable[[], PreparedFrames]:
    """The blocking job that picks and encodes a clip's frames as the settings ask (every
    backend sends the same frames; `stop` ends it early)."""
    return functools.partial(
        prepare_frames,
        clip.path,
        detections=filter_result.detections,
        max_frames=max(1, settings.max_frames),
        max_side=max(16, settings.max_image_side),
        jpeg_quality=min(95, max(10, settings.jpeg_quality)),
        duration_s=clip.duration_s,
        stop=stop,
    )


class BudgetedAnalyzer(VLMAnalyzer):
    """What every vision backend does around its request: check the daily budget first,
    report each outcome (the last error, or None) to `_on_outcome` (the hub's repair issues),
    pick the frames the settings ask for, and for an incident across cameras share the frame
    budget among its clips (`incident`). Subclasses set `settings`, `usage`, `last_error`,
    `last_frames`, `_camera_context` and `_on_outcome` and implement `_analyze` and
    `_analyze_incident`; `_in_executor` runs blocking frame work where they want it."""

    supports_incidents = True
    settings: VLMSettings
    usage: UsageTracker
    last_error: VLMError | None
    last_frames: PreparedFrames | None
    _camera_context: Callable[[str], CameraContext] | None
    _on_outcome: Callable[[VLMError | None], None] | None

    async def analyze(self, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
        """Analyze the clip; raise PipelineError subclasses (see the module docstring)."""
        return await self._reported(functools.partial(self._analyze, clip, filter_result))

    async def analyze_incident(self, clips: Sequence[IncidentClip]) -> AnalysisResult:
        """Analyze an incident's clips in one request (the frame budget shared)."""
        return await self._reported(functools.partial(self._analyze_incident, tuple(clips)))

    @abstractmethod
    async def _analyze(self, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
        """The backend's own analysis (budget and outcome are handled by analyze)."""

    @abstractmethod
    async def _analyze_incident(self, clips: Sequence[IncidentClip]) -> AnalysisResult:
        """The backend's own incident analysis (budget and outcome as for analyze)."""

    async def _reported(self, run: Callable[[], Awaitable[AnalysisResult]]) -> AnalysisResult:
        self.usage.check_budget()
        try:
            result = await run()
        except VLMError as err:
            self._outcome(err)
            raise
        self._outcome(None)
        return result

    def _outcome(self, error: VLMError | None) -> None:
        self.last_error = error
        if self._on_outcome is not None:
            self._on_outcome(error)

    def _context_for(self, clip: Clip) -> CameraContext:
        return clip_camera_context(self._camera_context, clip)

    async def _in_executor(self, job: Callable[[], _T]) -> _T:
        """Run blocking frame work (default: the loop's executor)."""
        return await asyncio.get_running_loop().run_in_executor(None, job)

    async def _blocking(self, job: Callable[[threading.Event], _T]) -> _T:
        """Run a blocking job that stops early when its `stop` event is set (on cancel)."""
        stop = threading.Event()
        try:
            return await self._in_executor(functools.partial(job, stop))
        except asyncio.CancelledError:
            stop.set()
            raise

    async def _prepare_frames(self, clip: Clip, filter_result: FilterResult) -> PreparedFrames:
        prepared = await self._blocking(
            lambda stop: clip_frames_job(self.settings, clip, filter_result, stop)()
        )
        self.last_frames = prepared
        return prepared

    async def _incident_parts(self, clips: Sequence[IncidentClip]) -> list[IncidentPart]:
        """The incident's clips with their share of the frames, placed in the incident."""
        settings = self.settings
        prepared = await self._blocking(
            lambda stop: incident_frames_job(
                clips,
                max_frames=max(1, settings.max_frames),
                max_side=max(16, settings.max_image_side),
                jpeg_quality=min(95, max(10, settings.jpeg_quality)),
                stop=stop,
            )()
        )
        return build_parts(clips, prepared, lambda item: self._context_for(item.clip))


class OpenAICompatibleAnalyzer(BudgetedAnalyzer):
    """Analyzes clips with a vision model behind an OpenAI-compatible API."""

    name = BACKEND_NAME

    def __init__(
        self,
        settings: VLMSettings,
        http_client: HttpClient,
        *,
        camera_context: Callable[[str], CameraContext] | None = None,
        now: Callable[[], datetime] | None = None,
        usage: UsageTracker | None = None,
        executor: concurrent.futures.Executor | None = None,
        on_outcome: Callable[[VLMError | None], None] | None = None,
    ) -> None:
        """`http_client` stays the caller's (never closed here).

        `camera_context(camera_id)` names and describes a camera (default: the clip's camera
        name, no context); `now()` gives the local time (its time zone places the clip in the
        local day); `usage` tracks tokens and the daily budget (default: one built from
        `settings`); frames are prepared on `executor` (default: the loop's);
        `on_outcome(error)` is called at the end of every `analyze` that passed the budget
        check, with the VLMError it raises or None on success (e.g. to raise and clear repair
        issues on `reason` "invalid_auth" / "model_not_found").
        """
        self.settings = settings
        self._client = _Client(settings, http_client)
        self._camera_context = camera_context
        self._now = now or (lambda: datetime.now().astimezone())
        self.usage = usage if usage is not None else UsageTracker(settings.usage_limits())
        self._executor = executor
        self._shape = _RequestShape()
        self._on_outcome = on_outcome
        self.last_frames: PreparedFrames | None = None
        # The last VLMError analyze raised; None after a successful analysis.
        self.last_error: VLMError | None = None

    def learned(self) -> dict[str, Any]:
        """What this server accepts, as learned so far (to keep across restarts)."""
        return {
            "base_url": self.settings.base_url,
            "model": self.settings.model,
            "response_mode": self._shape.mode.value,
            "limit_parameter": self._shape.limit_param,
            "sends_temperature": self._shape.send_temperature,
        }

    def restore_learned(self, data: Mapping[str, Any]) -> bool:
        """Start from what an earlier run learned about the same server and model."""
        if (data.get("base_url"), data.get("model")) != (
            self.settings.base_url,
            self.settings.model,
        ):
            return False
        try:
            mode = ResponseMode(data["response_mode"])
        except (KeyError, ValueError):
            return False
        limit = data.get("limit_parameter")
        self._shape.mode = mode
        if limit in ("max_tokens", "max_completion_tokens"):
            self._shape.limit_param = limit
        self._shape.send_temperature = bool(data.get("sends_temperature", True))
        return True

    @property
    def response_mode(self) -> ResponseMode:
        """How the answer's shape is requested (learned from the server's rejections)."""
        return self._shape.mode

    def diagnostics(self) -> dict[str, Any]:
        """Settings and learned behaviour, without the API key."""
        return {
            "base_url": self.settings.base_url,
            "model": self.settings.model,
            "api_key_set": bool(self.settings.api_key),
            "response_mode": self._shape.mode.value,
            "limit_parameter": self._shape.limit_param,
            "sends_temperature": self._shape.send_temperature,
            "adaptations": list(self._shape.notes),
            "usage": self.usage.snapshot().to_dict(),
        }

    async def _analyze(self, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
        prepared = await self._prepare_frames(clip, filter_result)
        camera = self._context_for(clip)
        local_start = clip.start_ts.astimezone(self._now().tzinfo)
        content = build_user_content(
            camera=camera,
            local_start=local_start,
            duration_s=prepared.duration_s,
            filter_result=filter_result,
            frames=prepared.frames,
            image_detail=self.settings.image_detail,
            household_notes=self.settings.household_notes,
        )
        return await self._ask(camera, content, prepared.duration_s, f"clip {clip.clip_id}")

    async def _analyze_incident(self, clips: Sequence[IncidentClip]) -> AnalysisResult:
        parts = await self._incident_parts(clips)
        camera = incident_camera(parts)
        local_start = incident_start(clips).astimezone(self._now().tzinfo)
        content = build_incident_content(
            parts,
            local_start=local_start,
            image_detail=self.settings.image_detail,
            household_notes=self.settings.household_notes,
        )
        what = "incident of " + ", ".join(item.clip.clip_id for item in clips)
        return await self._ask(camera, content, incident_duration(parts), what, incident=True)

    async def _ask(
        self,
        camera: CameraContext,
        content: list[ChatCompletionContentPartParam],
        duration_s: float,
        what: str,
        *,
        incident: bool = False,
    ) -> AnalysisResult:
        """The request and, when the answer is not a valid analysis, one re-ask."""
        user: ChatCompletionUserMessageParam = {"role": "user", "content": content}
        tokens = _Tokens()
        follow_up: list[ChatCompletionMessageParam] = []
        while True:
            messages = functools.partial(
                self._messages,
                camera=camera,
                user=user,
                follow_up=tuple(follow_up),
                incident=incident,
            )
            completion = await self._complete(messages, tokens)
            text, problem = await self._answer_text(completion)
            try:
                if problem is not None:
                    raise AnalysisValidationError([problem])
                result = await self._parse(text, duration_s)
            except AnalysisValidationError as err:
                if follow_up:
                    raise VLMInvalidOutput(
                        f"the vision model answered twice without a valid analysis: {err}"
                    ) from err
                _LOGGER.debug("Invalid analysis for %s, asking again: %s", what, err)
                assistant: ChatCompletionAssistantMessageParam = {
                    "role": "assistant",
                    "content": text or "(no answer)",
                }
                correction: ChatCompletionUserMessageParam = {
                    "role": "user",
                    "content": correction_text(err),
                }
                follow_up = [assistant, correction]
                continue
            return dataclasses.replace(
                result,
                model=completion.model or self.settings.model,
                prompt_tokens=tokens.prompt,
                completion_tokens=tokens.completion,
            )

    async def close(self) -> None:
        """Nothing to release: the HTTP client belongs to the caller."""

    # -- steps -------------------------------------------------------------------------

    def _messages(
        self,
        mode: ResponseMode,
        *,
        camera: CameraContext,
        user: ChatCompletionUserMessageParam,
        follow_up: tuple[ChatCompletionMessageParam, ...],
        incident: bool = False,
    ) -> list[ChatCompletionMessageParam]:
        system: ChatCompletionSystemMessageParam = {
            "role": "system",
            "content": build_system_prompt(
                language=self.settings.response_language,
                include_schema=mode is not ResponseMode.JSON_SCHEMA,
                camera=camera,
                incident=incident,
            ),
        }
        return [system, user, *follow_up]

    async def _in_executor(self, job: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    async def _parse(self, text: str, duration_s: float | None = None) -> AnalysisResult:
        """Parse an answer; a long one in the executor (parsing is linear, but a long answer
        still takes milliseconds that the event loop should not spend)."""
        if len(text) <= _PARSE_INLINE_CHARS:
            return parse_analysis(text, duration_s)
        job = functools.partial(parse_analysis, text, duration_s)
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    async def _answer_text(self, completion: ChatCompletion) -> tuple[str, str | None]:
        """The answer's text, and a problem to tell the model about (or None)."""
        if not completion.choices:
            return "", "the answer has no choices; answer with one JSON object"
        choice = completion.choices[0]
        message = choice.message
        if message.refusal:
            raise VLMInvalidOutput(
                f"the vision model refused: {self._client.redact(message.refusal)}",
                reason="refused",
            )
        text = message.content or ""
        if choice.finish_reason == "length":
            try:
                await self._parse(text)
            except AnalysisValidationError:
                return text, (
                    "the answer was cut off at the output token limit; answer more briefly"
                )
        return text, None

    def _response_format(
        self, mode: ResponseMode
    ) -> completion_create_params.ResponseFormat | NotGiven:
        if mode is ResponseMode.JSON_SCHEMA:
            structured: ResponseFormatJSONSchema = {
                "type": "json_schema",
                "json_schema": {
                    "name": SCHEMA_NAME,
                    "strict": True,
                    "schema": analysis_json_schema(),
                },
            }
            return structured
        if mode is ResponseMode.JSON_OBJECT:
            json_object: ResponseFormatJSONObject = {"type": "json_object"}
            return json_object
        return NOT_GIVEN

    async def _complete(
        self,
        messages: Callable[[ResponseMode], list[ChatCompletionMessageParam]],
        tokens: _Tokens,
    ) -> ChatCompletion:
        """One answered request; adapts the request shape to the server's rejections."""
        await self._client.ensure_ready()
        settings = self.settings
        shape = self._shape
        for _ in range(_MAX_ADAPTATIONS + 1):
            begin = time.monotonic()
            try:
                async with asyncio.timeout(settings.request_timeout_s):
                    completion = await self._client.sdk.chat.completions.create(
                        model=settings.model,
                        messages=messages(shape.mode),
                        response_format=self._response_format(shape.mode),
                        temperature=settings.temperature if shape.send_temperature else NOT_GIVEN,
                        max_tokens=(
                            settings.max_output_tokens
                            if shape.limit_param == "max_tokens"
                            else NOT_GIVEN
                        ),
                        max_completion_tokens=(
                            settings.max_output_tokens
                            if shape.limit_param == "max_completion_tokens"
                            else NOT_GIVEN
                        ),
                    )
            except openai.APIStatusError as err:
                if self._adapt(err):
                    continue
                raise self._client.status_error(err) from err
            except (openai.OpenAIError, TimeoutError) as err:
                raise self._client.transport_error(err) from err
            except ValueError as err:
                # The SDK lets a JSON decoding error of a 200 answer through.
                raise VLMUnavailable(
                    f"the vision model server at {self._client.where} sent an unreadable "
                    f"answer: {self._client.redact(str(err))}"
                ) from err
            # Servers that are not OpenAI-compatible (an HTML page, other JSON) still give a
            # 200: the SDK then returns a string or an empty completion.
            if not isinstance(completion, ChatCompletion) or completion.choices is None:
                raise self._client.not_a_completion()
            latency_ms = int((time.monotonic() - begin) * 1000)
            usage = completion.usage
            prompt_tokens = _count(usage.prompt_tokens) if usage else 0
            completion_tokens = _count(usage.completion_tokens) if usage else 0
            tokens.prompt += prompt_tokens
            tokens.completion += completion_tokens
            self.usage.record(prompt_tokens, completion_tokens, latency_ms)
            return completion
        raise VLMPermanentError(
            f"the vision model server at {self._client.where} rejected every request shape"
        )

    def _adapt(self, err: openai.APIStatusError) -> bool:
        """Change the request shape after a rejection it explains; True to try again."""
        shape = self._shape
        if shape.limit_param == "max_tokens" and _rejects_param(err, "max_tokens"):
            shape.limit_param = "max_completion_tokens"
            self._note("the model wants max_completion_tokens instead of max_tokens")
            return True
        if shape.send_temperature and _rejects_param(err, "temperature"):
            shape.send_temperature = False
            self._note("the model accepts no custom temperature; it is no longer sent")
            return True
        fallback = _FALLBACK.get(shape.mode)
        if fallback is not None and _rejects_response_format(err):
            self._note(
                f"the server rejected response_format {shape.mode.value} "
                f"(HTTP {err.status_code}); using {fallback.value}"
            )
            shape.mode = fallback
            return True
        return False

    def _note(self, note: str) -> None:
        _LOGGER.info("Vision model at %s: %s", self._client.where, note)
        self._shape.notes.append(note)


# -- configuration check --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What `validate_connection` found."""

    # Models the server lists (empty when it cannot list them).
    models: tuple[str, ...]
    # "models" when the model was found in the list, "chat" when a tiny request proved it.
    verified_by: Literal["models", "chat"]


_VALIDATION_REASONS = frozenset({"cannot_connect", "invalid_auth", "model_not_found"})


def _for_validation(error: VLMError) -> VLMError:
    """Every validation failure carries one of cannot_connect / invalid_auth / model_not_found."""
    if error.reason in _VALIDATION_REASONS:
        return error
    return VLMUnavailable(str(error))


async def validate_connection(
    settings: VLMSettings, http_client: HttpClient, *, timeout_s: float = 15.0
) -> ConnectionCheck:
    """Check base URL, API key and model for the configuration form.

    Lists the server's models and looks for the configured one; when the server cannot list
    models, sends a tiny text request instead. Raises VLMError with `reason` one of
    "cannot_connect", "invalid_auth", "model_not_found".
    """
    client = _Client(
        dataclasses.replace(settings, request_timeout_s=min(settings.request_timeout_s, timeout_s)),
        http_client,
    )
    try:
        await client.ensure_ready()
        listed: list[str] = []
        try:
            async with asyncio.timeout(client.settings.request_timeout_s):
                page = await client.sdk.models.list()
            listed = [str(model.id) for model in (page.data or []) if getattr(model, "id", None)]
        except openai.APIStatusError as err:
            if err.status_code not in (400, 404, 405, 501):
                raise client.status_error(err) from err
        except (openai.OpenAIError, TimeoutError) as err:
            raise client.transport_error(err) from err
        except (ValueError, TypeError, AttributeError):
            # Not a model list: some servers serve something else there.
            listed = []
        if listed:
            if any(_model_matches(settings.model, model) for model in listed):
                return ConnectionCheck(models=tuple(listed), verified_by="models")
            offered = ", ".join(sorted(listed)[:10]) + (" ..." if len(listed) > 10 else "")
            raise VLMModelNotFound(
                f"model {settings.model!r} is not offered by {client.where}; it offers: {offered}"
            )
        await _chat_probe(client)
        return ConnectionCheck(models=(), verified_by="chat")
    except VLMError as err:
        raise _for_validation(err) from err


async def _chat_probe(client: _Client) -> None:
    """A one-token text request: proves the key and the model when models cannot be listed."""
    probe: ChatCompletionUserMessageParam = {"role": "user", "content": "Reply with OK."}
    try:
        async with asyncio.timeout(client.settings.request_timeout_s):
            answer = await client.sdk.chat.completions.create(
                model=client.settings.model, messages=[probe], max_tokens=1
            )
    except ValueError as err:
        raise client.not_a_completion() from err
    except openai.APIStatusError as err:
        mapped = client.status_error(err)
        # Any other rejection of the tiny request (e.g. a model that wants
        # max_completion_tokens) still proves the server, the key and the model.
        if mapped.reason != "request_rejected":
            raise mapped from err
    except (openai.OpenAIError, TimeoutError) as err:
        raise client.transport_error(err) from err
    else:
        if not isinstance(answer, ChatCompletion) or answer.choices is None:
            raise client.not_a_completion()
