"""The OpenAI-compatible analyzer against a local server, through the real SDK and httpx."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import threading
import time
from collections.abc import AsyncGenerator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from custom_components.homesec_nvr.core.interfaces import PermanentError, StageSkipped
from custom_components.homesec_nvr.core.models import (
    ActivityType,
    Clip,
    Detection,
    EntityType,
    FilterResult,
    RiskLevel,
)
from custom_components.homesec_nvr.core.vlm import openai_compatible
from custom_components.homesec_nvr.core.vlm.openai_compatible import (
    OpenAICompatibleAnalyzer,
    ResponseMode,
    VLMAuthError,
    VLMInvalidOutput,
    VLMModelNotFound,
    VLMPermanentError,
    VLMRateLimited,
    VLMSettings,
    VLMUnavailable,
    retry_after_seconds,
)
from custom_components.homesec_nvr.core.vlm.prompt import CameraContext
from custom_components.homesec_nvr.core.vlm.usage import UsageLimits, UsageTracker

from .openai_server import DEFAULT_MODEL, OpenAIServer, Reply, analysis_json
from .video import ClipSpec, write_h264_clip

# Saturday 21 November 2026, 21:30 UTC = 22:30 at UTC+1 (night).
CLIP_START = datetime(2026, 11, 21, 21, 30, tzinfo=UTC)
LOCAL_TZ = timezone(timedelta(hours=1))


def local_now() -> datetime:
    return datetime(2026, 11, 21, 22, 45, tzinfo=LOCAL_TZ)


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[OpenAIServer]:
    """The local OpenAI-compatible server (sockets allowed, 127.0.0.1 only)."""
    async with OpenAIServer() as srv:
        yield srv


@pytest.fixture
async def http_client() -> AsyncGenerator[httpx.AsyncClient]:
    client = await asyncio.get_running_loop().run_in_executor(None, httpx.AsyncClient)
    async with client:
        yield client


@pytest.fixture
def clip(tmp_path: Path) -> Clip:
    path = write_h264_clip(tmp_path / "clip.mp4", ClipSpec(seconds=4.0, gop_seconds=1.0))
    return Clip(
        clip_id="clip-1",
        camera_id="cam-front",
        camera_name="Front door",
        source_type="test",
        path=path,
        start_ts=CLIP_START,
        end_ts=CLIP_START + timedelta(seconds=4),
    )


def person_result() -> FilterResult:
    return FilterResult(
        detected_classes=("person",),
        best_confidence={"person": 0.87},
        detections=(
            Detection("person", 0.6, (10, 10, 40, 80), 1.0),
            Detection("person", 0.87, (20, 10, 50, 80), 2.0),
        ),
        frames_sampled=4,
        model="yolo",
        duration_ms=10,
    )


def make_analyzer(
    server: OpenAIServer,
    client: httpx.AsyncClient,
    usage: UsageTracker | None = None,
    **overrides: Any,
) -> OpenAICompatibleAnalyzer:
    settings: dict[str, Any] = {"base_url": server.url, "model": DEFAULT_MODEL}
    settings.update(overrides)
    contexts = {"cam-front": CameraContext("Front door", "Faces the street; porch on the left.")}
    return OpenAICompatibleAnalyzer(
        VLMSettings(**settings),
        client,
        camera_context=contexts.__getitem__,
        now=local_now,
        usage=usage,
    )


def image_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    user = next(m for m in body["messages"] if m["role"] == "user")
    return [p for p in user["content"] if p["type"] == "image_url"]


def user_texts(body: dict[str, Any]) -> list[str]:
    user = next(m for m in body["messages"] if m["role"] == "user")
    return [p["text"] for p in user["content"] if p["type"] == "text"]


def system_text(body: dict[str, Any]) -> str:
    return str(next(m for m in body["messages"] if m["role"] == "system")["content"])


# -- success -----------------------------------------------------------------------------


async def test_a_valid_answer_becomes_the_analysis_with_its_token_usage(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a server answering with a valid analysis and 1200 + 150 tokens
    server.script(Reply(prompt_tokens=1200, completion_tokens=150, model="test-vision-0613"))
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    result = await analyzer.analyze(clip, person_result())

    # Then the structured answer, the tokens and the model are in the result
    assert result.risk_level is RiskLevel.LOW
    assert result.activity_type is ActivityType.DELIVERY
    assert result.summary == "A courier delivered a parcel to the front door."
    assert result.observations[1] == "They leave a parcel"
    assert result.entities[0].type is EntityType.PERSON
    assert (result.entities[0].first_seen_s, result.entities[0].last_seen_s) == (0.5, 3.0)
    assert (result.prompt_tokens, result.completion_tokens) == (1200, 150)
    assert result.model == "test-vision-0613"
    # and the call is counted
    usage = analyzer.usage.snapshot()
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (1, 1200, 150)
    assert usage.last_latency_ms is not None
    assert analyzer.response_mode is ResponseMode.JSON_SCHEMA


async def test_the_request_carries_model_frames_and_a_strict_schema_of_string_enums(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given an analyzer allowed 3 frames of at most 64 px, detail "low"
    analyzer = make_analyzer(
        server,
        http_client,
        max_frames=3,
        max_image_side=64,
        image_detail="low",
        max_output_tokens=500,
        temperature=0.1,
    )

    # When a clip is analyzed
    await analyzer.analyze(clip, person_result())

    # Then one request names the model, the limits, and at most 3 small JPEG data URLs
    (body,) = server.chat_bodies
    assert body["model"] == DEFAULT_MODEL
    assert body["max_tokens"] == 500
    assert body["temperature"] == 0.1
    images = image_parts(body)
    assert 1 <= len(images) <= 3
    for part in images:
        url = part["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")
        assert base64.b64decode(url.split(",", 1)[1])[:3] == b"\xff\xd8\xff"
        assert part["image_url"]["detail"] == "low"
    assert analyzer.last_frames is not None
    assert all(max(f.width, f.height) <= 64 for f in analyzer.last_frames.frames)
    # and a strict json_schema whose enums are exactly the model's string values
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    props = schema["properties"]
    assert props["risk_level"]["enum"] == [r.value for r in RiskLevel]
    assert props["activity_type"]["enum"] == [a.value for a in ActivityType]
    assert props["entities"]["items"]["properties"]["type"]["enum"] == [e.value for e in EntityType]
    assert schema["additionalProperties"] is False
    assert sorted(schema["required"]) == sorted(props)


async def test_the_prompt_tells_camera_context_local_time_detections_and_frame_times(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a camera with context text, a person detected at 1.0 s and 2.0 s, German answers
    analyzer = make_analyzer(server, http_client, max_frames=4, response_language="de")

    # When a clip that started at 22:30 local time is analyzed
    await analyzer.analyze(clip, person_result())

    # Then the user text has camera, context, local time, night, detections and frame labels
    (body,) = server.chat_bodies
    texts = user_texts(body)
    intro = texts[0]
    assert "Camera: Front door" in intro
    assert "Faces the street; porch on the left." in intro
    assert "Saturday 22:30 local time (night)" in intro
    assert "person (best confidence 0.87, seen t=1.0s to t=2.0s)" in intro
    assert analyzer.last_frames is not None
    labels = [f.label for f in analyzer.last_frames.frames]
    assert len(labels) == len(image_parts(body)) <= 4
    assert ", ".join(labels) in intro
    assert "t=2.0s" in labels  # the most confident detection is shown
    # each image follows its label
    assert texts[1:] == [f"Frame {i} of {len(labels)}, {lab}:" for i, lab in enumerate(labels, 1)]
    # and the system prompt defines the risk levels, every activity type and the language
    system = system_text(body)
    assert "forced entry, a weapon, violence, fire" in system
    assert all(f"- {a.value}:" in system for a in ActivityType)
    assert "in German" in system


async def test_a_fenced_answer_with_prose_and_loose_values_is_accepted(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given an answer in a code fence with prose, enums in other case, numbers as strings
    answer = analysis_json(
        risk_level="Medium",
        activity_type="Person At Door",
        entities=[
            {"type": "Person", "first_seen_s": "1.5", "last_seen_s": "99", "description": "x"}
        ],
    )
    server.script(Reply(content=f"Here is my analysis:\n```json\n{answer}\n```\nHope it helps."))
    analyzer = make_analyzer(server, http_client)

    # When the clip is analyzed
    result = await analyzer.analyze(clip, person_result())

    # Then it is understood, and the timeline is clamped to the 4 s clip
    assert result.risk_level is RiskLevel.MEDIUM
    assert result.activity_type is ActivityType.PERSON_AT_DOOR
    assert result.entities[0].first_seen_s == 1.5
    assert result.entities[0].last_seen_s == pytest.approx(4.0, abs=0.1)
    assert len(server.chat_bodies) == 1


class RecordingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A real thread pool that notes which functions ran on it, and in which thread."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.ran: list[tuple[str, int]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        name = getattr(getattr(fn, "func", fn), "__name__", repr(fn))

        def noted() -> Any:
            self.ran.append((name, threading.get_ident()))
            return fn(*args, **kwargs)

        return super().submit(noted)


@pytest.mark.parametrize(
    ("padding", "off_loop"), [(0, False), (60_000, True)], ids=["short", "long"]
)
async def test_a_long_answer_is_parsed_off_the_event_loop(
    server: OpenAIServer,
    http_client: httpx.AsyncClient,
    clip: Clip,
    padding: int,
    off_loop: bool,
) -> None:
    # Given a valid answer after some prose (none, or 60 kB of it)
    server.script(Reply(content="x" * padding + analysis_json()))
    executor = RecordingExecutor()
    analyzer = OpenAICompatibleAnalyzer(
        VLMSettings(base_url=server.url, model=DEFAULT_MODEL),
        http_client,
        now=local_now,
        executor=executor,
    )

    # When the clip is analyzed
    try:
        result = await analyzer.analyze(clip, person_result())
    finally:
        executor.shutdown(wait=True)

    # Then it is understood; a long answer was parsed in the executor's thread, not the loop's
    parsed = [thread for name, thread in executor.ran if name == "parse_analysis"]
    assert result.activity_type is ActivityType.DELIVERY
    assert bool(parsed) is off_loop
    assert all(thread != threading.get_ident() for thread in parsed)


# -- invalid output ----------------------------------------------------------------------


async def test_an_invalid_answer_is_corrected_once_with_the_validation_error(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a first answer with an unknown risk level, then a valid one
    server.script(
        Reply(content=analysis_json(risk_level="severe-ish"), prompt_tokens=1000),
        Reply(prompt_tokens=1100, completion_tokens=90),
    )
    analyzer = make_analyzer(server, http_client)

    # When the clip is analyzed
    result = await analyzer.analyze(clip, person_result())

    # Then the second request repeats the answer and names the problem; tokens add up
    assert len(server.chat_bodies) == 2
    second = server.chat_bodies[1]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert "severe-ish" in second["messages"][2]["content"]
    correction = second["messages"][3]["content"]
    assert "risk_level must be one of low, medium, high, critical" in correction
    assert result.risk_level is RiskLevel.LOW
    assert (result.prompt_tokens, result.completion_tokens) == (2100, 240)
    assert analyzer.usage.snapshot().calls == 2


async def test_two_invalid_answers_fail_the_analysis_without_retry(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a model that never answers with JSON
    server.script(Reply(content="I see a man."), Reply(content="Still just a man."))
    analyzer = make_analyzer(server, http_client)

    # When the clip is analyzed
    with pytest.raises(VLMInvalidOutput) as caught:
        await analyzer.analyze(clip, person_result())

    # Then it fails as not retryable after exactly two requests, both counted
    assert caught.value.retryable is False
    assert caught.value.reason == "invalid_output"
    assert "valid JSON object" in str(caught.value)
    assert len(server.chat_bodies) == 2
    assert analyzer.usage.snapshot().calls == 2


async def test_a_refusal_fails_the_analysis(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a model that refuses
    server.script(Reply(refusal="I can't help with that."))
    analyzer = make_analyzer(server, http_client)

    # When the clip is analyzed
    with pytest.raises(VLMInvalidOutput) as caught:
        await analyzer.analyze(clip, person_result())

    # Then the refusal is the reason and nothing is asked again
    assert caught.value.reason == "refused"
    assert "can't help" in str(caught.value)
    assert len(server.chat_bodies) == 1


# -- response format fallback ------------------------------------------------------------


async def test_json_schema_rejected_falls_back_to_json_object_and_remembers_it(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a server that rejects json_schema with a 400 naming response_format
    server.accepted_formats = {"json_object", "none"}
    analyzer = make_analyzer(server, http_client)

    # When two clips are analyzed
    first = await analyzer.analyze(clip, person_result())
    await analyzer.analyze(clip, person_result())

    # Then the first clip tried json_schema, then json_object with the schema in the prompt
    kinds = [b.get("response_format", {}).get("type") for b in server.chat_bodies]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert '"enum":["low","medium","high","critical"]' in system_text(server.chat_bodies[1])
    assert '"enum":["low"' not in system_text(server.chat_bodies[0])
    assert analyzer.response_mode is ResponseMode.JSON_OBJECT
    assert first.risk_level is RiskLevel.LOW
    # and only answered requests are counted
    assert analyzer.usage.snapshot().calls == 2


async def test_a_server_rejecting_both_formats_gets_the_schema_in_the_prompt(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a FastAPI-style server answering 422 for any response_format
    server.accepted_formats = {"none"}
    server.format_rejection_status = 422
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    result = await analyzer.analyze(clip, person_result())

    # Then the third request has no response_format and the schema is in the prompt
    bodies = server.chat_bodies
    assert [b.get("response_format", {}).get("type") for b in bodies] == [
        "json_schema",
        "json_object",
        None,
    ]
    assert "response_format" not in bodies[2]
    assert "must follow this JSON schema" in system_text(bodies[2])
    assert analyzer.response_mode is ResponseMode.PROMPT
    assert result.activity_type is ActivityType.DELIVERY


async def test_a_model_refusing_max_tokens_gets_max_completion_tokens(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a model that rejects max_tokens the way OpenAI's reasoning models do
    server.script(
        Reply(
            status=400,
            error_message="Unsupported parameter: 'max_tokens' is not supported with this "
            "model. Use 'max_completion_tokens' instead.",
            error_code="unsupported_parameter",
            error_param="max_tokens",
        )
    )
    analyzer = make_analyzer(server, http_client, max_output_tokens=700)

    # When two clips are analyzed
    await analyzer.analyze(clip, person_result())
    await analyzer.analyze(clip, person_result())

    # Then the retried and the later requests use max_completion_tokens
    first, second, third = server.chat_bodies
    assert first["max_tokens"] == 700
    assert "max_tokens" not in second
    assert second["max_completion_tokens"] == third["max_completion_tokens"] == 700
    assert analyzer.response_mode is ResponseMode.JSON_SCHEMA


# -- errors ------------------------------------------------------------------------------


async def test_429_is_retryable_with_the_servers_retry_after(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a rate-limited server asking for 7 s
    server.script(Reply(status=429, headers={"Retry-After": "7"}, error_message="Slow down"))
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    with pytest.raises(VLMRateLimited) as caught:
        await analyzer.analyze(clip, person_result())

    # Then the runner is told to wait 7 s, and the SDK did not retry by itself
    assert caught.value.retryable is True
    assert caught.value.retry_after_s == 7.0
    assert caught.value.reason == "rate_limited"
    assert len(server.chat_bodies) == 1


async def test_a_server_error_is_retryable_and_not_retried_by_the_sdk(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a server failing with 500
    server.script(Reply(status=500, error_message="backend exploded", error_type="server_error"))
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    with pytest.raises(VLMUnavailable) as caught:
        await analyzer.analyze(clip, person_result())

    # Then it is a retryable failure after exactly one request
    assert caught.value.retryable is True
    assert "HTTP 500" in str(caught.value)
    assert "backend exploded" in str(caught.value)
    assert len(server.requests) == 1


async def test_a_wrong_api_key_is_a_permanent_auth_error_that_never_shows_the_key(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a server expecting another key, which echoes the key it got
    server.api_key = "sk-right-key"
    analyzer = make_analyzer(server, http_client, api_key="sk-wrong-secret-1234")

    # When a clip is analyzed
    with pytest.raises(VLMAuthError) as caught:
        await analyzer.analyze(clip, person_result())

    # Then the error is permanent, says invalid_auth, and masks the key
    assert isinstance(caught.value, PermanentError)
    assert analyzer.last_error is caught.value
    assert caught.value.reason == "invalid_auth"
    assert "HTTP 401" in str(caught.value)
    assert "sk-wrong-secret-1234" not in str(caught.value)
    assert server.requests[0].headers["Authorization"] == "Bearer sk-wrong-secret-1234"


async def test_a_local_server_gets_a_placeholder_key(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given no API key configured
    analyzer = make_analyzer(server, http_client, api_key=None)

    # When a clip is analyzed
    await analyzer.analyze(clip, person_result())

    # Then the SDK still sends a (placeholder) bearer token
    assert server.requests[0].headers["Authorization"].startswith("Bearer ")
    assert len(server.requests[0].headers["Authorization"]) > len("Bearer ")


async def test_an_unknown_model_is_model_not_found(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a model the server does not have (404 model_not_found)
    analyzer = make_analyzer(server, http_client, model="gpt-nonexistent")

    # When a clip is analyzed
    with pytest.raises(VLMModelNotFound) as caught:
        await analyzer.analyze(clip, person_result())

    # Then the error is permanent with the model_not_found reason
    assert caught.value.retryable is False
    assert caught.value.reason == "model_not_found"
    assert "gpt-nonexistent" in str(caught.value)


async def test_a_400_naming_an_invalid_model_is_model_not_found(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a router answering 400 "... is not a valid model ID"
    server.script(Reply(status=400, error_message="vision-x is not a valid model ID"))
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    with pytest.raises(VLMModelNotFound) as caught:
        await analyzer.analyze(clip, person_result())

    # Then it is recognised as an unknown model
    assert caught.value.reason == "model_not_found"


async def test_another_400_is_a_permanent_rejection(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a 400 that names nothing the analyzer can adapt to
    server.script(Reply(status=400, error_message="messages: too many parts"))
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    with pytest.raises(VLMPermanentError) as caught:
        await analyzer.analyze(clip, person_result())

    # Then the request is not repeated and the reason is request_rejected
    assert caught.value.reason == "request_rejected"
    assert "too many parts" in str(caught.value)
    assert len(server.chat_bodies) == 1
    assert analyzer.response_mode is ResponseMode.JSON_SCHEMA


async def test_a_slow_answer_times_out_as_a_retryable_error(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a server taking 5 s and a 0.3 s request timeout
    server.script(Reply(delay_s=5.0))
    analyzer = make_analyzer(server, http_client, request_timeout_s=0.3)

    # When a clip is analyzed
    begin = time.monotonic()
    with pytest.raises(VLMUnavailable) as caught:
        await analyzer.analyze(clip, person_result())

    # Then it fails quickly as a retryable timeout
    assert time.monotonic() - begin < 3.0
    assert caught.value.retryable is True
    assert "timed out after 0.3 s" in str(caught.value)
    assert analyzer.usage.snapshot().calls == 0


async def test_an_unreachable_server_is_a_retryable_connection_error(
    socket_enabled: None, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a server that has stopped listening
    async with OpenAIServer() as gone:
        url = gone.url
    analyzer = OpenAICompatibleAnalyzer(VLMSettings(base_url=url, model="m"), http_client)

    # When a clip is analyzed
    with pytest.raises(VLMUnavailable) as caught:
        await analyzer.analyze(clip, person_result())

    # Then it is a retryable cannot_connect error
    assert caught.value.retryable is True
    assert caught.value.reason == "cannot_connect"
    assert "cannot connect" in str(caught.value)


async def test_a_corrupt_clip_is_a_permanent_error_before_any_request(
    server: OpenAIServer, http_client: httpx.AsyncClient, tmp_path: Path, clip: Clip
) -> None:
    # Given a clip file that is not a video
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    analyzer = make_analyzer(server, http_client)

    # When it is analyzed
    with pytest.raises(PermanentError) as caught:
        await analyzer.analyze(Clip(**{**_clip_fields(clip), "path": bad}), person_result())

    # Then the error names the problem and the server was never asked
    assert "cannot prepare frames" in str(caught.value)
    assert "bad.mp4" in str(caught.value)
    assert server.requests == []


def _clip_fields(clip: Clip) -> dict[str, Any]:
    return {name: getattr(clip, name) for name in Clip.__slots__}


# -- budget ------------------------------------------------------------------------------


async def test_a_spent_daily_budget_skips_analysis_until_the_next_day(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a budget of one call a day and a clock we move
    today = [date(2026, 11, 21)]
    usage = UsageTracker(UsageLimits(max_calls_per_day=1), today=lambda: today[0])
    analyzer = make_analyzer(server, http_client, usage=usage)
    await analyzer.analyze(clip, person_result())

    # When a second clip comes the same day
    with pytest.raises(StageSkipped) as caught:
        await analyzer.analyze(clip, person_result())

    # Then it is skipped as budget_exhausted without a request
    assert caught.value.reason == "budget_exhausted"
    assert len(server.chat_bodies) == 1
    # and the next day analysis runs again
    today[0] = date(2026, 11, 22)
    result = await analyzer.analyze(clip, person_result())
    assert result.risk_level is RiskLevel.LOW
    assert len(server.chat_bodies) == 2
    assert usage.snapshot().calls == 1


# -- event loop --------------------------------------------------------------------------


async def test_frames_of_a_1080p_clip_are_prepared_without_blocking_the_event_loop(
    server: OpenAIServer,
    http_client: httpx.AsyncClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a 1080p clip (every frame decoded: one keyframe), a ticker on the loop, and a
    # record of the thread that prepares the frames
    path = await asyncio.get_running_loop().run_in_executor(
        None,
        lambda: write_h264_clip(
            tmp_path / "hd.mp4",
            ClipSpec(width=1920, height=1080, seconds=3.0, gop_seconds=3.0, noise=8),
        ),
    )
    clip = Clip("hd", "cam-front", "Front door", "test", path, CLIP_START, CLIP_START)
    analyzer = make_analyzer(server, http_client)
    threads: list[int] = []
    real_prepare = openai_compatible.prepare_frames

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(openai_compatible, "prepare_frames", spy)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())

    # When the clip is analyzed
    try:
        await analyzer.analyze(clip, person_result())
    finally:
        ticker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ticker

    # Then the frames were decoded, resized and encoded in a worker thread while the loop ran
    assert analyzer.last_frames is not None
    prepared = analyzer.last_frames
    assert (prepared.source_width, prepared.source_height) == (1920, 1080)
    assert all((f.width, f.height) == (1024, 576) for f in prepared.frames)
    assert threads
    assert threading.get_ident() not in threads
    assert ticks >= 3


# -- unusual servers ---------------------------------------------------------------------


async def test_an_html_page_instead_of_a_completion_is_a_permanent_bad_response(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a base URL that serves a web page with 200
    server.script(Reply(raw_body="<html>Router login</html>", content_type="text/html"))
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    with pytest.raises(VLMPermanentError) as caught:
        await analyzer.analyze(clip, person_result())

    # Then it is a permanent bad_response pointing at the base URL, not counted as a call
    assert caught.value.reason == "bad_response"
    assert "check the base URL" in str(caught.value)
    assert analyzer.usage.snapshot().calls == 0


async def test_an_empty_answer_body_is_retryable(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a 200 answer with an empty JSON body (a proxy hiccup)
    server.script(Reply(raw_body="", content_type="application/json"))
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    with pytest.raises(VLMUnavailable) as caught:
        await analyzer.analyze(clip, person_result())

    # Then the runner may try again
    assert caught.value.retryable is True
    assert "unreadable answer" in str(caught.value)


async def test_an_exhausted_quota_is_permanent_not_rate_limiting(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a 429 insufficient_quota (billing), as OpenAI answers
    server.script(
        Reply(
            status=429,
            error_message="You exceeded your current quota",
            error_code="insufficient_quota",
        )
    )
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    with pytest.raises(VLMPermanentError) as caught:
        await analyzer.analyze(clip, person_result())

    # Then retrying is pointless
    assert caught.value.retryable is False
    assert caught.value.reason == "quota_exceeded"


async def test_a_model_without_vision_is_reported_as_images_rejected(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a text-only model
    server.script(Reply(status=400, error_message="This model does not support image input."))
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    with pytest.raises(VLMPermanentError) as caught:
        await analyzer.analyze(clip, person_result())

    # Then the reason says the images were rejected
    assert caught.value.reason == "images_rejected"
    assert "accept images" in str(caught.value)


async def test_a_model_refusing_a_custom_temperature_gets_none(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a model that only accepts the default temperature
    server.script(
        Reply(
            status=400,
            error_message="Unsupported value: 'temperature' does not support 0.2 with this "
            "model. Only the default (1) value is supported.",
            error_code="unsupported_value",
            error_param="temperature",
        )
    )
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    await analyzer.analyze(clip, person_result())

    # Then the retried request has no temperature, and the change is in the diagnostics
    first, second = server.chat_bodies
    assert first["temperature"] == 0.2
    assert "temperature" not in second
    assert analyzer.diagnostics()["sends_temperature"] is False


async def test_an_answer_cut_off_at_the_token_limit_is_asked_again_more_briefly(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a first answer cut off mid-object, then a complete one
    server.script(Reply(content=analysis_json()[:80], finish_reason="length"), Reply())
    analyzer = make_analyzer(server, http_client)

    # When a clip is analyzed
    result = await analyzer.analyze(clip, person_result())

    # Then the correction told the model why
    correction = server.chat_bodies[1]["messages"][3]["content"]
    assert "cut off at the output token limit" in correction
    assert result.activity_type is ActivityType.DELIVERY


async def test_an_unknown_camera_uses_the_clip_name_and_diagnostics_hide_the_key(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given an analyzer whose camera contexts do not know the clip's camera
    analyzer = make_analyzer(server, http_client, api_key="sk-secret-abcdef")
    other = Clip(**{**_clip_fields(clip), "camera_id": "cam-new", "camera_name": "Garden"})

    # When the clip is analyzed
    await analyzer.analyze(other, person_result())

    # Then the clip's camera name is used without context, and diagnostics carry no key
    intro = user_texts(server.chat_bodies[0])[0]
    assert "Camera: Garden" in intro
    assert "About this camera" not in intro
    diagnostics = analyzer.diagnostics()
    assert diagnostics["api_key_set"] is True
    assert "sk-secret-abcdef" not in repr(diagnostics)
    assert diagnostics["usage"]["calls"] == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "Sat, 21 Nov 2026 21:30:30 GMT"}, 30.0),
        ({"retry-after": "whenever"}, None),
        ({"retry-after": "1e999"}, None),
        ({"retry-after": "9" * 400}, None),
        ({"retry-after-ms": "inf", "retry-after": "3"}, 3.0),
        ({"retry-after-ms": "nan"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers_are_read(headers: dict[str, str], expected: float | None) -> None:
    # Given a response's headers
    # When the wait is read (at 21:30:00 UTC)
    wait = retry_after_seconds(httpx.Headers(headers), now=CLIP_START)

    # Then milliseconds, seconds and HTTP dates are understood; numbers no float holds are not
    assert wait == expected


async def test_the_outcome_listener_hears_failures_and_the_recovery(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip
) -> None:
    # Given a listener (the HA glue raises a repair issue from it) and a server that
    # first does not know the model
    outcomes: list[str | None] = []
    analyzer = OpenAICompatibleAnalyzer(
        VLMSettings(base_url=server.url, model="llava"),
        http_client,
        on_outcome=lambda err: outcomes.append(err.reason if err else None),
    )

    # When a clip fails, the model is pulled, and the next clip succeeds
    with pytest.raises(VLMModelNotFound):
        await analyzer.analyze(clip, person_result())
    server.models.append("llava")
    await analyzer.analyze(clip, person_result())

    # Then the listener heard model_not_found, then the recovery
    assert outcomes == ["model_not_found", None]
    assert analyzer.last_error is None


@pytest.mark.parametrize(
    ("tokens", "counted"),
    [
        (10**400, openai_compatible.MAX_TOKEN_COUNT),
        (float("inf"), 0),
        (float("nan"), 0),
        (-5, 0),
        (1234.9, 1234),
    ],
    ids=["400-digits", "infinity", "nan", "negative", "float"],
)
async def test_a_broken_token_usage_is_counted_safely(
    server: OpenAIServer, http_client: httpx.AsyncClient, clip: Clip, tokens: Any, counted: int
) -> None:
    # Given a server whose usage block reports an absurd token count (sent as JSON as is:
    # a 400-digit integer, Infinity, NaN)
    server.script(Reply(prompt_tokens=tokens, completion_tokens=tokens))
    analyzer = make_analyzer(server, http_client)

    # When the clip is analyzed
    result = await analyzer.analyze(clip, person_result())

    # Then the analysis stands and the usage counts a bounded whole number of tokens
    usage = analyzer.usage.snapshot()
    assert result.activity_type is ActivityType.DELIVERY
    assert (result.prompt_tokens, result.completion_tokens) == (counted, counted)
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (1, counted, counted)
