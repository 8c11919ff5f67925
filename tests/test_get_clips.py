"""The `homesec_nvr.get_clips` service action: real clips through the pipeline (two
watched-folder cameras, the vision model on a local OpenAI-compatible server), searched by
camera, time, risk, activity, alert, review and text, paginated, with signed links."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncGenerator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.homesec_nvr.const import DB_RELATIVE_PATH, DOMAIN

from .conftest import SetupHub, camera_subentry
from .core.openai_server import DEFAULT_MODEL, OpenAIServer, Reply, analysis_json
from .helpers import EventWaiter, find_device
from .video import write_clip

# The keys of every item: the clip payload of the bus events, plus reviewed_at.
ITEM_KEYS = {
    "clip_id", "camera", "camera_id", "source", "start_time", "end_time", "status", "risk_level",
    "activity_type", "summary", "observations", "requires_review", "detected_classes",
    "analysis_skipped_reason", "alert", "reason", "error", "review", "media_url",
    "snapshot_url", "media_content_id", "metadata", "event_key", "reviewed_at", "incident_id",
    "cameras", "camera_ids",
}  # fmt: skip
ANSWERS = [
    ("Front door", {"summary": "A courier leaves a parcel.", "risk_level": "low"}),
    (
        "Garage",
        {
            "summary": "Someone tries the garage handle.",
            "observations": ["A man in a red jacket pulls the handle"],
            "risk_level": "high",
            "activity_type": "suspicious_behavior",
        },
    ),
    (
        "Front door",
        {
            "summary": "A fox crosses the path.",
            "observations": ["A fox runs across the lawn"],
            "activity_type": "animal_activity",
        },
    ),
]


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[OpenAIServer]:
    """A local OpenAI-compatible server (the real openai SDK talks to it)."""
    async with OpenAIServer() as running:
        yield running


async def get_clips(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, "get_clips", data, blocking=True, return_response=True
    )


async def _history(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer, tmp_path: Path
) -> tuple[Any, dict[str, str], list[str]]:
    """A hub with two cameras and three analysed clips (in ANSWERS order, oldest first)."""
    folders = {"Front door": tmp_path / "front", "Garage": tmp_path / "garage"}
    for folder in folders.values():
        folder.mkdir()
    entry = await setup_hub(
        [camera_subentry(name, folder) for name, folder in folders.items()],
        vlm_enabled=True,
        vlm_base_url=server.url,
        vlm_model=DEFAULT_MODEL,
        vlm_run_mode="always",
        vlm_request_timeout_s=5,
        min_risk_level="high",
    )
    devices = {}
    for camera in entry.runtime_data.cameras.values():
        device = find_device(hass, entry.entry_id, camera.camera_id)
        assert device is not None
        devices[camera.name] = device.id
    processed = EventWaiter(hass)
    clip_ids = []
    for index, (camera, answer) in enumerate(ANSWERS):
        server.script(Reply(content=analysis_json(**answer)))
        await hass.async_add_executor_job(write_clip, folders[camera] / f"clip{index}.mp4")
        await processed.wait(index + 1)
        clip_ids.append(processed.events[-1].data["clip_id"])
    processed.close()
    await hass.async_block_till_done()
    return entry, devices, clip_ids


async def test_get_clips_searches_real_clips_and_pages_through_them(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    server: OpenAIServer,
    tmp_path: Path,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    # Given three analysed clips of two cameras (the garage one alerted: high risk)
    _entry, devices, (courier, garage, fox) = await _history(hass, setup_hub, server, tmp_path)

    # When every clip is asked for, two at a time
    first = await get_clips(hass, limit=2)
    second = await get_clips(hass, limit=2, offset=first["next_offset"])

    # Then they come newest first, with the clip payload keys, counts and signed links
    assert [c["clip_id"] for c in first["clips"]] == [fox, garage]
    assert (first["total"], first["offset"], first["limit"], first["next_offset"]) == (3, 0, 2, 2)
    assert [c["clip_id"] for c in second["clips"]] == [courier]
    assert second["next_offset"] is None
    item = first["clips"][1]
    assert set(item) == ITEM_KEYS
    assert (item["camera"], item["risk_level"], item["alert"]) == ("Garage", "high", True)
    assert item["observations"] == ["A man in a red jacket pulls the handle"]
    client = await hass_client_no_auth()
    video = await client.get(item["media_url"])
    assert video.status == 200 and (await video.read())[4:8] == b"ftyp"

    # When searching by camera, risk, activity, alert, text and time
    found = {
        name: [c["clip_id"] for c in (await get_clips(hass, **data))["clips"]]
        for name, data in {
            "front door": {"device_id": devices["Front door"]},
            "both": {"device_id": [devices["Front door"], devices["Garage"]]},
            "high risk": {"min_risk": "high"},
            "animals": {"activity_types": ["animal_activity", "loitering"]},
            "alerted": {"alerted": True},
            "not alerted": {"alerted": False},
            "parcel": {"query": "parcel"},
            "prefix in observations": {"query": "RED jack"},
            "camera name": {"query": "garage"},
            "operators are text": {"query": 'fox OR "parcel'},
            "after the first": {"start": first["clips"][1]["start_time"]},
            "till the first": {"end": second["clips"][0]["start_time"]},
        }.items()
    }

    # Then each finds exactly its clips
    assert found == {
        "front door": [fox, courier],
        "both": [fox, garage, courier],
        "high risk": [garage],
        "animals": [fox],
        "alerted": [garage],
        "not alerted": [fox, courier],
        "parcel": [courier],
        "prefix in observations": [garage],
        "camera name": [garage],
        "operators are text": [],  # "fox", "or" and "parcel" are all needed
        "after the first": [fox, garage],
        "till the first": [courier],
    }


async def test_get_clips_follows_reviews(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer, tmp_path: Path
) -> None:
    # Given three analysed clips, one marked a false alarm
    _entry, _devices, (courier, garage, fox) = await _history(hass, setup_hub, server, tmp_path)
    before = dt_util.utcnow().replace(microsecond=0)
    await hass.services.async_call(
        DOMAIN, "review", {"clip_id": garage, "review": "false_alarm"}, blocking=True
    )

    # When reviewed and unreviewed clips are asked for
    reviewed = await get_clips(hass, reviewed=True)
    open_ = await get_clips(hass, reviewed=False)

    # Then the review filter splits them, and the item carries its review and when
    assert [c["clip_id"] for c in reviewed["clips"]] == [garage]
    assert reviewed["clips"][0]["review"] == "false_alarm"
    reviewed_at = dt_util.parse_datetime(reviewed["clips"][0]["reviewed_at"])
    assert reviewed_at is not None and reviewed_at >= before
    assert [c["clip_id"] for c in open_["clips"]] == [fox, courier]
    assert open_["clips"][0]["reviewed_at"] is None


async def test_wrong_get_clips_calls_are_translated_validation_errors(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub
    entry = await setup_hub()
    hub_device = find_device(hass, entry.entry_id, entry.entry_id)
    assert hub_device is not None
    cases = [
        ({"device_id": "no-such-device"}, "not_a_camera", "no-such-device is not"),
        ({"device_id": [hub_device.id]}, "not_a_camera", "is not a HomeSec camera"),
        ({"start": "2026-12-02T00:00:00Z", "end": "2026-12-01T00:00:00Z"}, "end_before_start",
         "is before its start"),
        ({"limit": 0}, "bad_page", "Page size 0 or offset 0 is out of range"),
        ({"limit": 501}, "bad_page", "the page size is 1 to 500"),
        ({"offset": -1}, "bad_page", "offset -1"),
    ]  # fmt: skip
    for data, key, text in cases:
        # When get_clips is called with it
        with pytest.raises(ServiceValidationError) as err:
            await get_clips(hass, **data)

        # Then HomeSec's translated message says what is wrong
        assert (err.value.translation_domain, err.value.translation_key) == (DOMAIN, key), data
        assert text in str(err.value), data


async def test_a_failing_clip_database_is_a_translated_error(
    hass: HomeAssistant, setup_hub: SetupHub, config_dir: Path
) -> None:
    # Given a running hub whose clip database lost its clip table
    await setup_hub()

    def _break_database() -> None:
        with closing(sqlite3.connect(config_dir / DB_RELATIVE_PATH)) as conn:
            conn.execute("ALTER TABLE clip_states RENAME TO clip_states_lost")

    await hass.async_add_executor_job(_break_database)

    # When the history is searched
    with pytest.raises(HomeAssistantError) as err:
        await get_clips(hass, query="parcel")

    # Then it fails with HomeSec's translated message naming the database error
    assert not isinstance(err.value, ServiceValidationError)
    assert (err.value.translation_domain, err.value.translation_key) == (DOMAIN, "history_failed")
    assert "no such table" in str(err.value)
