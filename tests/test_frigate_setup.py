"""Frigate cameras in Home Assistant: the subentry flow, MQTT messages, devices, dedupe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.aiohttp_client import WARN_CLOSE_MSG
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message
from pytest_homeassistant_custom_component.typing import MqttMockHAClient, WebSocketGenerator

from custom_components.homesec_nvr.const import (
    EVENT_CLIP_DOWNLOAD_FAILED,
    SUBENTRY_FRIGATE,
)

from .conftest import SetupHub
from .core.frigate_server import FakeFrigate, event_message, make_clips
from .core.openai_server import DEFAULT_MODEL, OpenAIServer
from .helpers import (
    EventWaiter,
    delete_device,
    enable_entities,
    find_device,
    start_subentry_reconfigure,
)

EVENT_ID = "1718123456.123456-abc123"


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The harness' mocked paho client never unregisters its socket, so MQTT's 1 s misc
    timer outlives the test (the real-broker test checks a clean shutdown)."""
    return True


@pytest.fixture
async def mqtt(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> AsyncGenerator[None]:
    """Home Assistant's MQTT integration on the harness' mocked client; unloaded at the end
    (so its periodic timer does not outlive the test)."""
    yield
    for entry in hass.config_entries.async_entries("mqtt"):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def frigate(socket_enabled: None, tmp_path: Path) -> AsyncGenerator[FakeFrigate]:
    """A fake Frigate 0.17 serving one event's clip."""
    async with FakeFrigate() as server:
        clip, _truncated = make_clips(tmp_path / "frigate_media", seconds=4.0)
        server.add_event(EVENT_ID, clip)
        yield server


def frigate_subentry(server: FakeFrigate, **extra: Any) -> ConfigSubentryData:
    """A Frigate subentry as the flow stores it, with fast download retries for tests."""
    return ConfigSubentryData(
        data={
            "url": server.url,
            "verify_ssl": True,
            "mode": "events",
            "cameras": [],
            "labels": ["person"],
            "sub_labels": [],
            "zones": [],
            "min_score": 0.7,
            "min_duration_s": 1.0,
            "severities": ["alert"],
            "padding_s": 0,
            "download_window_s": 15,
            "topic_prefix": "frigate",
            "write_description": False,
            "first_delay_s": 0,
            "retry_delay_s": 0.1,
            **extra,
        },
        subentry_type=SUBENTRY_FRIGATE,
        title="Frigate (127.0.0.1)",
        unique_id=f"frigate:{server.url}",
    )


async def test_end_event_becomes_an_analysed_clip_on_its_own_device(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a hub with a Frigate subentry (Frigate's own detection as the filter)
    entry = await setup_hub([frigate_subentry(frigate)])
    processed = EventWaiter(hass)

    # When Frigate publishes the end of a tracked person
    async_fire_mqtt_message(hass, "frigate/events", event_message("end", sub_label=["Bob", 0.9]))
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the clip was downloaded, filtered by Frigate's detection, and alerted
    assert payload["clip_id"] == f"frigate-{EVENT_ID}"
    assert payload["camera"] == "front_door"
    assert payload["source"] == "frigate"
    assert payload["detected_classes"] == ["person"]
    assert payload["status"] == "done"
    assert payload["alert"] is True
    assert payload["metadata"]["frigate_event_id"] == EVENT_ID
    assert payload["metadata"]["frigate_zones"] == ["porch"]
    assert payload["metadata"]["frigate_sub_label"] == "Bob"
    assert payload["metadata"]["frigate_has_snapshot"] is True
    # and the Frigate camera has its own device with HomeSec's entities
    subentry_id = next(iter(entry.subentries))
    device = find_device(hass, entry.entry_id, f"{subentry_id}:front_door")
    assert device is not None
    assert hass.states.get("sensor.front_door_last_detected_objects").state == "person"
    assert hass.states.get("sensor.front_door_clips_today").state == "1"
    # and the metadata keeps Frigate's event
    state = await entry.runtime_data.store.get_state(payload["clip_id"])
    assert state is not None
    assert state.metadata["frigate_event_id"] == EVENT_ID
    assert state.filter_result is not None
    assert state.filter_result.model == "frigate"
    assert state.filter_result.sub_labels == ("Bob",)
    # and the Frigate server is connected
    assert hass.states.get("binary_sensor.frigate_127_0_0_1_connected").state == "on"
    processed.close()


async def test_same_end_twice_and_after_a_restart_is_processed_once(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a processed Frigate event
    entry = await setup_hub([frigate_subentry(frigate)])
    processed = EventWaiter(hass)
    async_fire_mqtt_message(hass, "frigate/events", event_message("end"))
    await processed.wait(1)

    # When the same end message arrives again, and again after HomeSec restarts
    async_fire_mqtt_message(hass, "frigate/events", event_message("end"))
    await hass.async_block_till_done()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, "frigate/events", event_message("end"))
    await hass.async_block_till_done()

    # Then it was downloaded and processed once, and the camera's device survived the restart
    assert len(processed.events) == 1
    assert len(frigate.paths("clip.mp4")) == 1
    assert hass.states.get("sensor.front_door_clips_today").state == "1"
    processed.close()


async def test_bad_messages_are_ignored_without_tracebacks(
    hass: HomeAssistant,
    mqtt: None,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a hub with a Frigate subentry
    entry = await setup_hub([frigate_subentry(frigate)])

    # When Frigate's topics carry garbage, updates, other labels and false positives
    async_fire_mqtt_message(hass, "frigate/events", "{not json")
    async_fire_mqtt_message(hass, "frigate/events", event_message("update"))
    async_fire_mqtt_message(hass, "frigate/events", event_message("end", label="cat"))
    async_fire_mqtt_message(hass, "frigate/events", event_message("end", false_positive=True))
    async_fire_mqtt_message(hass, "frigate/available", "offline")
    await hass.async_block_till_done()

    # Then nothing is downloaded, the server shows offline, and the log has no traceback
    assert frigate.paths("clip.mp4") == []
    assert hass.states.get("binary_sensor.frigate_127_0_0_1_connected").state == "off"
    server = entry.runtime_data.kinds[next(iter(entry.subentries))]
    assert server.source.messages_invalid == 1
    assert "Traceback" not in caplog.text


async def test_a_clip_that_never_arrives_is_reported(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a Frigate that never finds recordings for an event
    frigate.add_event("1718123999.0-zzz999", frigate.events[EVENT_ID].clip, script=["no_clip"])
    entry = await setup_hub([frigate_subentry(frigate)])
    await enable_entities(hass, entry, "sensor.frigate_127_0_0_1_clip_downloads_failed")
    failed = EventWaiter(hass, EVENT_CLIP_DOWNLOAD_FAILED)

    # When its end message arrives
    async_fire_mqtt_message(
        hass, "frigate/events", event_message("end", event_id="1718123999.0-zzz999")
    )
    event = (await failed.wait(1))[0]
    await hass.async_block_till_done()

    # Then HomeSec gives up with an event and a counter, never a crash
    assert event.data["frigate_id"] == "1718123999.0-zzz999"
    assert event.data["reason"] == "no_clip"
    assert hass.states.get("sensor.frigate_127_0_0_1_clip_downloads_failed").state == "1"
    failed.close()


async def test_subentry_flow_validates_server_and_mqtt(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a running hub and a Frigate server
    entry = await setup_hub([])

    # When the user enters a URL that is not Frigate
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_FRIGATE), context={"source": "user"}
    )
    frigate.version_body = "<html>router login</html>"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"url": frigate.url, "verify_ssl": True}
    )
    # Then the form says so
    assert result["errors"] == {"base": "not_frigate"}

    # And with the real Frigate the cameras step lists Frigate's cameras and creates the entry
    frigate.version_body = None
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"url": frigate.url + "/", "verify_ssl": True}
    )
    assert result["step_id"] == "cameras"
    cameras_field = next(k for k in result["data_schema"].schema if str(k) == "cameras")
    options = result["data_schema"].schema[cameras_field].config["options"]
    assert options == ["front_door"]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "cameras": ["front_door"],
            "mode": "events",
            "min_score": 0.6,
            "min_duration_s": 0,
            "padding_s": 2,
            "download_window_s": 60,
            "topic_prefix": "frigate",
            "write_description": True,
            "min_risk_level": "inherit",
            "notify_on_motion": "inherit",
            "vlm_run_mode": "inherit",
            "filter": "frigate",
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = entry.subentries.values()
    assert subentry.unique_id == f"frigate:{frigate.url}"
    assert subentry.data["url"] == frigate.url
    assert subentry.data["cameras"] == ["front_door"]


async def test_subentry_flow_needs_mqtt(hass: HomeAssistant, setup_hub: SetupHub) -> None:
    # Given Home Assistant without the MQTT integration
    entry = await setup_hub([])

    # When the user adds a Frigate server
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_FRIGATE), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"url": "http://127.0.0.1:5000", "verify_ssl": True}
    )

    # Then the form says MQTT must be set up first
    assert result["errors"] == {"base": "mqtt_not_configured"}


async def test_alert_overrides_use_frigate_camera_names(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given cars are taken from Frigate, and only front_door alerts on every clip
    await setup_hub(
        [
            frigate_subentry(
                frigate,
                labels=["car"],
                per_camera_alert={"front_door": {"notify_on_motion": True}},
            )
        ]
    )
    processed = EventWaiter(hass)

    # When Frigate reports a car at front_door (a car is not a trigger object)
    async_fire_mqtt_message(hass, "frigate/events", event_message("end", label="car"))
    payload = (await processed.wait(1))[0].data

    # Then front_door's own override made it alert
    assert payload["detected_classes"] == ["car"]
    assert payload["alert"] is True
    assert payload["reason"] == "notify_on_motion is on: every clip alerts"
    processed.close()


async def test_cameras_step_rejects_bad_alert_overrides(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given the cameras step of a new Frigate server
    entry = await setup_hub([])
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_FRIGATE), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"url": frigate.url, "verify_ssl": True}
    )

    # When the overrides name an activity type that does not exist
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "mode": "events",
            "min_score": 0.7,
            "min_duration_s": 1,
            "padding_s": 5,
            "download_window_s": 90,
            "topic_prefix": "frigate",
            "write_description": False,
            "min_risk_level": "inherit",
            "notify_on_motion": "inherit",
            "vlm_run_mode": "inherit",
            "filter": "frigate",
            "per_camera_alert": {"front_door": {"notify_on_activity_types": ["burglary"]}},
        },
    )

    # Then the form says which value is wrong
    assert result["errors"] == {"per_camera_alert": "invalid_per_camera_alert"}
    assert "burglary" in result["description_placeholders"]["error_detail"]


async def test_summary_is_written_back_to_frigate_when_enabled(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a Frigate camera with write-back on and a vision model that writes a summary
    async with OpenAIServer() as vlm:
        await setup_hub(
            [frigate_subentry(frigate, write_description=True)],
            vlm_enabled=True,
            vlm_base_url=vlm.url,
            vlm_model=DEFAULT_MODEL,
            vlm_run_mode="always",
        )
        processed = EventWaiter(hass)

        # When a Frigate event is analysed
        async_fire_mqtt_message(hass, "frigate/events", event_message("end"))
        payload = (await processed.wait(1))[0].data
        async with asyncio.timeout(10):
            while not frigate.paths("/description"):
                await asyncio.sleep(0.05)

    # Then Frigate received HomeSec's summary as the event's description
    assert payload["summary"] == "A courier delivered a parcel to the front door."
    assert frigate.paths("/description") == [f"/api/events/{EVENT_ID}/description"]
    processed.close()


async def test_frigate_session_is_detached_on_unload_never_closed(
    hass: HomeAssistant,
    mqtt: None,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a hub with a Frigate server (its client on a session sharing HA's connector)
    entry = await setup_hub([frigate_subentry(frigate)])
    (server,) = entry.runtime_data.kinds.values()
    assert not server.session.closed

    # When the hub is unloaded
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    # Then the session was let go of (detached from HA's connector) ...
    assert server.session.closed
    # ... without closing Home Assistant's session (which HA reports as a bug)
    assert WARN_CLOSE_MSG not in caplog.text


async def test_frigate_form_check_does_not_close_home_assistants_session(
    hass: HomeAssistant,
    mqtt: None,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given the first step of a new Frigate server
    entry = await setup_hub([])
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_FRIGATE), context={"source": "user"}
    )

    # When the form checks the server
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"url": frigate.url, "verify_ssl": True}
    )

    # Then the check worked and did not close Home Assistant's session
    assert result["step_id"] == "cameras"
    assert WARN_CLOSE_MSG not in caplog.text


# Entities of the Frigate camera front_door (unavailable while Frigate or MQTT is down).
FRIGATE_CAMERA_ENTITIES = (
    "sensor.front_door_last_summary",
    "sensor.front_door_last_detected_objects",
    "binary_sensor.front_door_alert",
    "event.front_door_activity",
    "image.front_door_snapshot",
)


def unavailable(hass: HomeAssistant, entity_ids: tuple[str, ...]) -> list[str]:
    """The entities among `entity_ids` that are unavailable."""
    return [e for e in entity_ids if hass.states.get(e).state == STATE_UNAVAILABLE]


async def test_frigate_camera_entities_follow_frigate_being_offline(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a Frigate camera seen once (its device and entities exist)
    await setup_hub([frigate_subentry(frigate)])
    processed = EventWaiter(hass)
    async_fire_mqtt_message(hass, "frigate/events", event_message("end"))
    await processed.wait(1)
    await hass.async_block_till_done()
    processed.close()
    assert unavailable(hass, FRIGATE_CAMERA_ENTITIES) == []

    # When Frigate's last will says it is offline
    async_fire_mqtt_message(hass, "frigate/available", "offline")
    await hass.async_block_till_done()

    # Then the camera's entities are unavailable; the server's connectivity sensor says off
    assert unavailable(hass, FRIGATE_CAMERA_ENTITIES) == list(FRIGATE_CAMERA_ENTITIES)
    assert hass.states.get("binary_sensor.frigate_127_0_0_1_connected").state == "off"

    # And when Frigate is online again, so are the camera's entities
    async_fire_mqtt_message(hass, "frigate/available", "online")
    await hass.async_block_till_done()
    assert unavailable(hass, FRIGATE_CAMERA_ENTITIES) == []
    assert hass.states.get("binary_sensor.frigate_127_0_0_1_connected").state == "on"


async def _see_front_door(hass: HomeAssistant) -> None:
    """Frigate reports one tracked person at front_door (its device is created)."""
    processed = EventWaiter(hass)
    async_fire_mqtt_message(hass, "frigate/events", event_message("end"))
    await processed.wait(1)
    await hass.async_block_till_done()
    processed.close()


async def test_device_of_a_camera_dropped_from_the_camera_list_is_removed(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a Frigate subentry taking every camera, and front_door seen once
    entry = await setup_hub([frigate_subentry(frigate)])
    (subentry,) = entry.subentries.values()
    await _see_front_door(hass)
    camera_id = f"{subentry.subentry_id}:front_door"
    assert find_device(hass, entry.entry_id, camera_id) is not None

    # When the user reconfigures the subentry to take only the garage camera
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "cameras": ["garage"]}
    )
    await hass.async_block_till_done()

    # Then front_door's device and entities are gone after the reload; the server's stay
    assert find_device(hass, entry.entry_id, camera_id) is None
    assert hass.states.get("sensor.front_door_last_summary") is None
    assert camera_id not in entry.runtime_data.cameras
    assert find_device(hass, entry.entry_id, subentry.subentry_id) is not None


async def test_device_of_a_camera_frigate_no_longer_has_can_be_deleted(
    hass: HomeAssistant,
    mqtt: None,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    hass_ws_client: WebSocketGenerator,
) -> None:
    # Given a Frigate subentry taking every camera, and front_door seen once
    entry = await setup_hub([frigate_subentry(frigate)])
    (subentry_id,) = entry.subentries
    await _see_front_door(hass)
    camera = find_device(hass, entry.entry_id, f"{subentry_id}:front_door")
    server = find_device(hass, entry.entry_id, subentry_id)
    assert camera is not None
    assert server is not None

    # When the user deletes front_door's device while Frigate still has that camera,
    # and the Frigate server's device
    kept_camera = not await delete_device(hass, hass_ws_client, entry.entry_id, camera.id)
    kept_server = not await delete_device(hass, hass_ws_client, entry.entry_id, server.id)
    # Then HomeSec refuses both
    assert kept_camera
    assert kept_server

    # When Frigate no longer has front_door and the user deletes its device again
    frigate.cameras = {"garage": []}
    deleted = await delete_device(hass, hass_ws_client, entry.entry_id, camera.id)

    # Then the device and its entities are gone, and so is the camera's live state
    assert deleted is True
    assert find_device(hass, entry.entry_id, f"{subentry_id}:front_door") is None
    assert hass.states.get("sensor.front_door_last_summary") is None
    assert f"{subentry_id}:front_door" not in entry.runtime_data.cameras


async def test_camera_is_kept_when_frigate_cannot_say_whether_it_still_exists(
    hass: HomeAssistant,
    mqtt: None,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    hass_ws_client: WebSocketGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given front_door seen once, and then Frigate's API gone
    entry = await setup_hub([frigate_subentry(frigate)])
    (subentry_id,) = entry.subentries
    await _see_front_door(hass)
    camera = find_device(hass, entry.entry_id, f"{subentry_id}:front_door")
    assert camera is not None
    await frigate.close()

    # When the user deletes front_door's device
    deleted = await delete_device(hass, hass_ws_client, entry.entry_id, camera.id)

    # Then HomeSec keeps it (the camera may well still exist) and says why
    assert deleted is False
    assert find_device(hass, entry.entry_id, f"{subentry_id}:front_door") is not None
    assert "cannot say whether it still has it" in caplog.text


def cameras_form(**change: Any) -> dict[str, Any]:
    """Every required field of the Frigate cameras step."""
    return {
        "mode": "events",
        "min_score": 0.7,
        "min_duration_s": 1,
        "padding_s": 5,
        "download_window_s": 90,
        "topic_prefix": "frigate",
        "write_description": False,
        "min_risk_level": "inherit",
        "notify_on_motion": "inherit",
        "vlm_run_mode": "inherit",
        "filter": "frigate",
        **change,
    }


async def test_subentry_flow_refuses_a_frigate_server_already_added(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a hub with a Frigate server
    entry = await setup_hub([frigate_subentry(frigate)])

    # When the user adds the same server again (with a trailing slash)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_FRIGATE), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"url": frigate.url + "/", "verify_ssl": True}
    )

    # Then the form says it is already there, and Frigate was not even asked
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"url": "frigate_already_configured"}
    assert len(entry.subentries) == 1


async def test_cameras_step_checks_the_object_filter(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given the cameras step of a new Frigate server, and no ONNX model anywhere
    entry = await setup_hub([])
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_FRIGATE), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"url": frigate.url, "verify_ssl": True}
    )

    # When the user picks the ONNX filter instead of Frigate's own detection
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], cameras_form(filter="onnx")
    )

    # Then the form asks for a model, and no server is added
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"filter": "model_not_configured"}
    assert entry.subentries == {}


async def test_reconfigure_changes_what_is_taken_from_frigate(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a hub with a Frigate server taking persons at a score of 0.7
    entry = await setup_hub([frigate_subentry(frigate)])
    (subentry_id,) = entry.subentries

    # When the user reconfigures it: same server, then cars too at a score of 0.5
    result = await start_subentry_reconfigure(hass, entry, subentry_id)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"url": frigate.url, "verify_ssl": True}
    )
    assert result["step_id"] == "cameras"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], cameras_form(labels=["person", "car"], min_score=0.5)
    )
    await hass.async_block_till_done()

    # Then the subentry is updated in place (same id and server) and the hub reloaded with it
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[subentry_id]
    assert subentry.data["labels"] == ["person", "car"]
    assert subentry.data["min_score"] == 0.5
    assert subentry.data["url"] == frigate.url
    assert subentry.unique_id == f"frigate:{frigate.url}"
    server = entry.runtime_data.kinds[subentry_id]
    assert server.config["min_score"] == 0.5
