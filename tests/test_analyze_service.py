"""The `homesec_nvr.analyze` service action: the vision model (a local OpenAI-compatible
server) run again on a stored clip (history, events, search index follow), on a video file in
an allowed folder, and on a camera entity's snapshot; its translated errors."""

from __future__ import annotations

import io
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import persistent_notification
from homeassistant.components.camera import Camera
from homeassistant.components.camera.const import DATA_COMPONENT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
from PIL import Image

from custom_components.homesec_nvr.analyze import EVENT_CLIP_REANALYZED
from custom_components.homesec_nvr.const import DOMAIN

from .conftest import SetupHub
from .core.openai_server import DEFAULT_MODEL, OpenAIServer, Reply, analysis_json
from .helpers import EventWaiter, process_clip
from .video import write_clip

SUSPICIOUS = analysis_json(
    risk_level="high",
    activity_type="suspicious_behavior",
    summary="Someone tries the handle of the front door.",
    observations=["A hooded man pulls the door handle twice"],
)


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[OpenAIServer]:
    """A local OpenAI-compatible server (the real openai SDK talks to it)."""
    async with OpenAIServer() as running:
        yield running


def vlm(server: OpenAIServer, **extra: Any) -> dict[str, Any]:
    return {
        "vlm_enabled": True,
        "vlm_base_url": server.url,
        "vlm_model": DEFAULT_MODEL,
        "vlm_run_mode": "always",
        "vlm_request_timeout_s": 5,
        **extra,
    }


async def analyze(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, "analyze", data, blocking=True, return_response=True
    )


async def test_analyzing_a_stored_clip_again_updates_its_history(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer, incoming: Path
) -> None:
    # Given a clip analysed as a harmless delivery
    entry = await setup_hub(**vlm(server))
    store = entry.runtime_data.store
    clip_id = (await process_clip(hass, incoming / "a.mp4"))["clip_id"]
    reanalyzed = EventWaiter(hass, EVENT_CLIP_REANALYZED)
    calls = len(server.chat_bodies)

    # When it is analysed again and the model now sees a threat
    server.script(Reply(content=SUSPICIOUS))
    response = await analyze(hass, clip_id=clip_id)

    # Then the response is the new analysis of that clip
    assert response["clip_id"] == clip_id
    assert (response["risk_level"], response["activity_type"]) == ("high", "suspicious_behavior")
    assert response["summary"] == "Someone tries the handle of the front door."
    assert response["model"] == DEFAULT_MODEL and response["prompt_tokens"] > 0
    assert len(server.chat_bodies) == calls + 1

    # And the history has it: the state, a clip_reanalyzed event, an event on the bus
    state = await store.get_state(clip_id)
    assert state is not None and state.analysis is not None
    assert state.analysis.risk_level.value == "high"
    [event] = [e for e in await store.events(clip_id) if e.event_type.value == "clip_reanalyzed"]
    assert event.data["risk_level"] == "high" and event.data["previous_risk_level"] == "low"
    await reanalyzed.wait(1)
    payload = reanalyzed.events[0].data
    assert (payload["clip_id"], payload["risk_level"]) == (clip_id, "high")
    assert payload["media_url"]
    reanalyzed.close()

    # And the camera's last-summary sensor shows the new analysis
    await hass.async_block_till_done()
    summary = hass.states.get("sensor.front_door_last_summary")
    assert summary is not None and "handle of the front door" in summary.state

    # And the search finds the new words, not the old summary's
    found = await hass.services.async_call(
        DOMAIN, "get_clips", {"query": "hooded handle"}, blocking=True, return_response=True
    )
    assert [c["clip_id"] for c in found["clips"]] == [clip_id]
    old = await hass.services.async_call(
        DOMAIN, "get_clips", {"query": "courier"}, blocking=True, return_response=True
    )
    assert old["total"] == 0


async def test_analyzing_a_file_needs_an_allowed_existing_video(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer, tmp_path: Path
) -> None:
    # Given a video in a folder Home Assistant allows, and one outside it
    await setup_hub(**vlm(server))
    allowed = tmp_path / "videos"
    allowed.mkdir()
    hass.config.allowlist_external_dirs = {str(allowed)}
    video = await hass.async_add_executor_job(write_clip, allowed / "driveway.mp4")
    outside = await hass.async_add_executor_job(write_clip, tmp_path / "elsewhere.mp4")
    calls = len(server.chat_bodies)

    # When the allowed video is analysed, with a notification
    server.script(Reply(content=SUSPICIOUS))
    response = await analyze(hass, file_path=str(video), notify=True)

    # Then its analysis comes back (not stored: no clip id), and a notification says it
    assert response["clip_id"] is None
    assert (response["camera"], response["risk_level"]) == ("driveway.mp4", "high")
    body = server.chat_bodies[calls]
    assert any(part.get("type") == "image_url" for part in body["messages"][-1]["content"])
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    assert any("driveway.mp4" in n["title"] for n in notifications.values())

    # When a file outside the allowed folders, a missing one, or a relative path is asked
    cases = [
        (str(outside), "path_not_allowed", "is not in a folder Home Assistant allows"),
        ("videos/driveway.mp4", "path_not_allowed", "is not in a folder"),
        (str(allowed / "missing.mp4"), "file_not_found", "does not exist"),
    ]
    for path, key, text in cases:
        with pytest.raises(ServiceValidationError) as err:
            await analyze(hass, file_path=path)

        # Then each is a translated validation error and the model is not asked
        assert (err.value.translation_domain, err.value.translation_key) == (DOMAIN, key)
        assert text in str(err.value)
    assert len(server.chat_bodies) == calls + 1


class PorchCamera(Camera):
    """A camera entity whose snapshot is a fixed JPEG."""

    _attr_name = "Porch"
    _attr_unique_id = "porch-test-camera"

    def __init__(self, jpeg: bytes) -> None:
        super().__init__()
        self._jpeg = jpeg

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        return self._jpeg


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (40, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_analyzing_a_camera_entity_sends_its_snapshot_as_one_frame(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer
) -> None:
    # Given a camera entity in Home Assistant (not a HomeSec camera)
    await setup_hub(**vlm(server))
    assert await async_setup_component(hass, "camera", {})
    await hass.data[DATA_COMPONENT].async_add_entities([PorchCamera(_jpeg())])
    await hass.async_block_till_done()
    calls = len(server.chat_bodies)

    # When it is analysed now
    response = await analyze(hass, camera_entity="camera.porch")

    # Then the model got exactly one image, and its analysis comes back
    images = [
        part
        for part in server.chat_bodies[calls]["messages"][-1]["content"]
        if part.get("type") == "image_url"
    ]
    assert len(images) == 1
    assert (response["clip_id"], response["camera"]) == (None, "Porch")
    assert response["activity_type"] == "delivery"

    # When a camera entity that does not exist is asked
    with pytest.raises(ServiceValidationError) as err:
        await analyze(hass, camera_entity="camera.nowhere")

    # Then it is a translated error naming it
    assert err.value.translation_key == "camera_image_failed"
    assert "camera.nowhere" in str(err.value)


async def test_analyze_errors_are_translated(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer, incoming: Path
) -> None:
    # Given a hub with a vision model and one processed clip
    await setup_hub(**vlm(server))
    clip_id = (await process_clip(hass, incoming / "a.mp4"))["clip_id"]

    # When nothing, an unknown clip, or a clip the model fails on is analysed
    with pytest.raises(ServiceValidationError) as nothing:
        await analyze(hass)
    with pytest.raises(ServiceValidationError) as unknown:
        await analyze(hass, clip_id="no-such-clip")
    server.script(Reply(status=400, error_message="image too large"))
    with pytest.raises(HomeAssistantError) as failed:
        await analyze(hass, clip_id=clip_id)

    # Then each is HomeSec's translated message
    assert nothing.value.translation_key == "analyze_what"
    assert unknown.value.translation_key == "unknown_clips"
    assert "no-such-clip" in str(unknown.value)
    assert not isinstance(failed.value, ServiceValidationError)
    assert failed.value.translation_key == "analyze_failed"
    assert "image too large" in str(failed.value)


async def test_analyze_without_a_vision_model_is_refused(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a hub without a vision model, and a processed clip
    await setup_hub()
    clip_id = (await process_clip(hass, incoming / "a.mp4"))["clip_id"]

    # When the clip is analysed
    with pytest.raises(ServiceValidationError) as err:
        await analyze(hass, clip_id=clip_id)

    # Then HomeSec says a vision model must be set up first
    assert err.value.translation_key == "vision_model_not_configured"
    assert "No vision model is set up" in str(err.value)


async def test_analyzing_a_file_that_is_no_video_is_a_translated_error(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer, tmp_path: Path
) -> None:
    # Given a file in an allowed folder that is not a video (text named .mp4)
    await setup_hub(**vlm(server))
    allowed = tmp_path / "videos"
    allowed.mkdir()
    hass.config.allowlist_external_dirs = {str(allowed)}
    notes = allowed / "notes.mp4"
    await hass.async_add_executor_job(notes.write_text, "not a video")
    calls = len(server.chat_bodies)

    # When it is analysed
    with pytest.raises(HomeAssistantError) as err:
        await analyze(hass, file_path=str(notes))

    # Then the error is HomeSec's translated one (no stray decoder exception) and the
    # model is not asked
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "analyze_failed"
    assert len(server.chat_bodies) == calls
