"""An incident across grouped cameras is analysed once, with frames of each camera labelled
by camera and time, and notified once; a lone clip waits at most the gap."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, ServiceCall

from custom_components.homesec_nvr.core.models import ClipEventType, ClipStatus
from custom_components.homesec_nvr.core.store import ClipStore

from .conftest import SetupHub, camera_subentry
from .core.openai_server import DEFAULT_MODEL, OpenAIServer, Reply, analysis_json
from .helpers import EventWaiter, open_options
from .video import write_clip


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[OpenAIServer]:
    """A local OpenAI-compatible server (the real openai SDK talks to it)."""
    async with OpenAIServer() as running:
        yield running


def register_phone(hass: HomeAssistant) -> list[ServiceCall]:
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    return calls


def hub_options(server: OpenAIServer, gap: float, **extra: Any) -> dict[str, Any]:
    return {
        "vlm_enabled": True,
        "vlm_base_url": server.url,
        "vlm_model": DEFAULT_MODEL,
        "vlm_run_mode": "always",
        "vlm_max_frames": 6,
        "vlm_request_timeout_s": 5,
        "notify_services": ["notify.phone"],
        "persistent_notification": False,
        "camera_groups": "Front: Driveway, Front door",
        "incident_gap_seconds": gap,
        "min_risk_level": "low",
        **extra,
    }


def user_text(body: dict[str, Any]) -> str:
    content = body["messages"][1]["content"]
    return "\n".join(part["text"] for part in content if part["type"] == "text")


def images(body: dict[str, Any]) -> int:
    return sum(1 for part in body["messages"][1]["content"] if part["type"] == "image_url")


async def two_cameras(
    setup_hub: SetupHub, incoming: Path, tmp_path: Path, server: OpenAIServer, gap: float
) -> tuple[Any, Path]:
    door = tmp_path / "door"
    door.mkdir()
    entry = await setup_hub(
        [camera_subentry("Driveway", incoming), camera_subentry("Front door", door)],
        entry_data={"vlm_api_key": None},
        **hub_options(server, gap),
    )
    return entry, door


async def test_two_grouped_cameras_are_one_request_one_analysis_one_notification(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    tmp_path: Path,
    server: OpenAIServer,
) -> None:
    # Given the driveway and the front door grouped, a vision model that describes the walk
    # from one camera to the other, and a phone
    calls = register_phone(hass)
    entry, door = await two_cameras(setup_hub, incoming, tmp_path, server, gap=60)
    walk = "A person walked up the driveway to the front door and rang."
    server.script(Reply(content=analysis_json(summary=walk, activity_type="person_at_door")))
    processed = EventWaiter(hass)

    # When the driveway records a clip and the front door one right after
    await hass.async_add_executor_job(write_clip, incoming / "drive.mp4")
    await hass.async_add_executor_job(write_clip, door / "door.mp4")
    events = await processed.wait(2, timeout=30)
    await hass.async_block_till_done()
    payloads = {event.data["camera"]: event.data for event in events}

    # Then the vision model got ONE request, with frames of both cameras labelled by camera
    # and time from the start of the incident, within the usual frame budget
    assert len(server.chat_bodies) == 1
    body = server.chat_bodies[0]
    text = user_text(body)
    assert "Incident seen by 2 cameras of one area: Driveway, Front door." in text
    assert re.search(r"Frame \d of \d, Driveway t=\d+\.\ds:", text)
    assert re.search(r"Frame \d of \d, Front door t=\d+\.\ds:", text)
    assert 2 <= images(body) <= 6
    assert "incident seen by several cameras" in body["messages"][0]["content"]
    # And both clips carry the incident's analysis, its id and both cameras
    drive, front = payloads["Driveway"], payloads["Front door"]
    assert drive["summary"] == front["summary"] == walk
    assert front["incident_id"] == drive["incident_id"]
    assert drive["incident_id"] in (drive["clip_id"], front["clip_id"])
    assert sorted(drive["cameras"]) == sorted(front["cameras"]) == ["Driveway", "Front door"]
    # And the phone was notified once, for the incident, by the clip whose request it was
    assert len(calls) == 1
    assert calls[0].data["data"]["tag"] == f"homesec_{drive['incident_id']}"
    lead, other = (drive, front) if drive["alert"] else (front, drive)
    assert lead["alert"] is True
    assert other["alert"] is False
    assert "alerted once for the incident" in other["reason"]
    # ... naming the incident's cameras, in the order they joined
    where = ", ".join(lead["cameras"])
    assert calls[0].data["title"] == f"HomeSec: {where}"
    assert calls[0].data["message"].startswith(f"{where} at ")
    # And the tokens are counted once, on the lead
    store = entry.runtime_data.store
    other_events = await store.events(other["clip_id"])
    completed = [e for e in other_events if e.event_type is ClipEventType.VLM_COMPLETED]
    assert completed[0].data["incident_lead"] == lead["clip_id"]
    assert completed[0].data["prompt_tokens"] == 0
    lead_events = await store.events(lead["clip_id"])
    first = next(e for e in lead_events if e.event_type is ClipEventType.VLM_COMPLETED)
    assert sorted(first.data["incident_clips"]) == sorted([drive["clip_id"], front["clip_id"]])
    assert first.data["prompt_tokens"] == 1200
    processed.close()


async def test_a_lone_grouped_clip_waits_at_most_the_gap_then_is_analysed_alone(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    tmp_path: Path,
    server: OpenAIServer,
) -> None:
    # Given grouped cameras with a 1 s gap
    entry, _door = await two_cameras(setup_hub, incoming, tmp_path, server, gap=1)
    processed = EventWaiter(hass)

    # When only the driveway records a clip
    await hass.async_add_executor_job(write_clip, incoming / "drive.mp4")
    payload = (await processed.wait(1, timeout=20))[0].data

    # Then after the gap it was analysed alone, with the single-clip prompt
    assert len(server.chat_bodies) == 1
    text = user_text(server.chat_bodies[0])
    assert text.startswith("Camera: Driveway")
    assert "Incident seen by" not in text
    assert payload["summary"]
    assert payload["cameras"] == ["Driveway"]
    assert entry.runtime_data.pipeline.clips_queued == 0
    processed.close()


async def test_a_clip_waiting_for_its_group_survives_unload_and_is_analysed_after(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    tmp_path: Path,
    server: OpenAIServer,
) -> None:
    # Given grouped cameras with a long gap, and a driveway clip waiting for the front door
    entry, _door = await two_cameras(setup_hub, incoming, tmp_path, server, gap=600)
    pipeline = entry.runtime_data.pipeline
    await hass.async_add_executor_job(write_clip, incoming / "drive.mp4")
    for _ in range(400):
        if pipeline.clips_waiting_for_incident == 1:
            break
        await asyncio.sleep(0.05)
    assert pipeline.clips_waiting_for_incident == 1
    assert pipeline.clips_in_flight == 0
    assert server.chat_bodies == []
    clip_id = (await entry.runtime_data.store.recent_states(None, 1))[0].clip_id

    database = Path(entry.runtime_data.store.path)

    # When Home Assistant unloads HomeSec while it waits
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    # Then nothing of it keeps running, and the clip is kept unfinished
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("homesec incident")]
    stored = await _stored_state(database, clip_id)
    assert stored is not None
    assert stored.status is ClipStatus.FILTERED

    # When HomeSec starts again with a short gap
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "incident_gap_seconds": 1}
    )
    processed = EventWaiter(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    payload = (await processed.wait(1, timeout=20))[0].data

    # Then the clip is analysed (alone: no other camera came) and finished once
    assert payload["clip_id"] == clip_id
    assert len(server.chat_bodies) == 1
    processed.close()


async def _stored_state(database: Path, clip_id: str) -> Any:
    store = ClipStore(database)
    await store.open()
    try:
        return await store.get_state(clip_id)
    finally:
        await store.close()


async def test_when_the_incident_request_fails_each_clip_is_analysed_alone(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    tmp_path: Path,
    server: OpenAIServer,
) -> None:
    # Given grouped cameras and a server that rejects the first request for good
    calls = register_phone(hass)
    entry, door = await two_cameras(setup_hub, incoming, tmp_path, server, gap=60)
    server.script(Reply(status=400, error_message="the request is too large"))
    processed = EventWaiter(hass)

    # When both cameras record a clip
    await hass.async_add_executor_job(write_clip, incoming / "drive.mp4")
    await hass.async_add_executor_job(write_clip, door / "door.mp4")
    events = await processed.wait(2, timeout=30)
    await hass.async_block_till_done()

    # Then after the failed incident request each clip got a request of its own and its
    # analysis, and nothing was lost
    assert len(server.chat_bodies) == 3
    assert "Incident seen by 2 cameras" in user_text(server.chat_bodies[0])
    alone = sorted(user_text(body).splitlines()[0] for body in server.chat_bodies[1:])
    assert alone == ["Camera: Driveway", "Camera: Front door"]
    assert all(event.data["summary"] for event in events)
    assert all(event.data["status"] == "done" for event in events)
    assert all(event.data["analysis_skipped_reason"] is None for event in events)
    # And both alerted on the incident's one notification (the second an update of it)
    tags = {call.data["data"]["tag"] for call in calls}
    assert tags == {f"homesec_{events[0].data['incident_id']}"}
    assert entry.runtime_data.pipeline.clips_queued == 0
    processed.close()


async def test_the_prompt_preview_shows_what_a_group_incident_is_sent(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given two grouped cameras, the front door with notes, and hub notes
    door = tmp_path / "door"
    door.mkdir()
    entry = await setup_hub(
        [
            camera_subentry("Driveway", incoming),
            camera_subentry("Front door", door, camera_context="The postman comes at noon."),
        ],
        camera_groups="Front: Driveway, Front door",
        vlm_household_notes="We have a grey cat.",
        vlm_max_frames=5,
    )

    # When the preview is opened
    result = await open_options(hass, entry.entry_id, "prompt_preview")

    # Then the group is offered next to the cameras
    schema = result["data_schema"].schema["camera"]
    labels = {option["value"]: option["label"] for option in schema.config["options"]}
    assert labels["group:Front"] == "Front (Driveway + Front door)"

    # When the group is chosen
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"camera": "group:Front"}
    )

    # Then the incident's prompt is shown: one request for both cameras, labelled frames, the
    # budget shared, each camera's notes under its name
    assert result["step_id"] == "prompt_preview_show_incident"
    shown = result["description_placeholders"]
    assert shown["group"] == "Front"
    assert shown["cameras"] == "Driveway, Front door"
    assert "incident seen by several cameras" in shown["system"]
    assert "Incident seen by 2 cameras of one area: Driveway, Front door." in shown["user"]
    assert "For the camera Front door: The postman comes at noon." in shown["user"]
    assert "For the whole home: We have a grey cat." in shown["user"]
    assert shown["user"].count("[image]") == 5
    assert "Frame 5 of 5, Front door t=" in shown["user"]

    # And closing it changes no option
    before = dict(entry.options)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] == "create_entry"
    assert dict(entry.options) == before
