"""What a user sees on a camera's device page: a snapshot only once there is one, states
the frontend shows translated, counters without a made-up unit, one event per clip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homeassistant.const import ATTR_ENTITY_PICTURE, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.helpers.translation import async_get_translations

from custom_components.homesec_nvr.const import DOMAIN, EVENT_TYPES
from custom_components.homesec_nvr.sensor import (
    NO_ERROR,
    OBJECTS_NONE,
    SUMMARY_FAILED,
    SUMMARY_NOT_ANALYZED,
    SUMMARY_SKIP_STATES,
)

from .conftest import SetupHub
from .helpers import process_clip

ROOT = Path(__file__).parent.parent / "custom_components" / "homesec_nvr"
IMAGE = "image.front_door_snapshot"
EVENT = "event.front_door_activity"


class StateChanges:
    """Every new state an entity is given."""

    def __init__(self, hass: HomeAssistant, entity_id: str) -> None:
        self.states: list[State] = []
        self._entity_id = entity_id
        self.close = hass.bus.async_listen("state_changed", self._handle)

    @callback
    def _handle(self, event: Event[Any]) -> None:
        if event.data["entity_id"] == self._entity_id and event.data["new_state"] is not None:
            self.states.append(event.data["new_state"])


async def test_snapshot_has_no_picture_before_the_first_clip(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, hass_client: Any
) -> None:
    # Given a new camera that has no clip yet
    await setup_hub()
    client = await hass_client()

    # When its device page shows the snapshot entity
    before = hass.states.get(IMAGE)

    # Then there is no picture to load (the frontend shows the icon, never a broken image)
    assert before is not None
    assert ATTR_ENTITY_PICTURE not in before.attributes

    # When the camera's first clip has been processed
    await process_clip(hass, incoming / "clip1.mp4")

    # Then the picture is the clip's snapshot, served as a JPEG
    picture = hass.states.get(IMAGE).attributes[ATTR_ENTITY_PICTURE]
    response = await client.get(picture)
    assert response.status == 200
    assert response.content_type == "image/jpeg"
    assert (await response.read())[:2] == b"\xff\xd8"


async def test_snapshot_deleted_meanwhile_shows_no_picture(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, hass_client: Any
) -> None:
    # Given a camera with a snapshot whose file was deleted since (by the retention)
    entry = await setup_hub()
    client = await hass_client()
    await process_clip(hass, incoming / "clip1.mp4")
    snapshot = entry.runtime_data.cameras[next(iter(entry.subentries))].snapshot_path
    assert snapshot is not None
    snapshot.unlink()

    # When the frontend asks for the picture
    await client.get(hass.states.get(IMAGE).attributes[ATTR_ENTITY_PICTURE])
    await hass.async_block_till_done()

    # Then the entity stops offering a picture instead of a broken one
    assert ATTR_ENTITY_PICTURE not in hass.states.get(IMAGE).attributes


async def test_snapshot_gone_before_a_restart_shows_no_picture(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a camera whose last snapshot file was deleted while Home Assistant was down
    entry = await setup_hub()
    await process_clip(hass, incoming / "clip1.mp4")
    snapshot = entry.runtime_data.cameras[next(iter(entry.subentries))].snapshot_path
    assert snapshot is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
    snapshot.unlink()

    # When HomeSec starts again
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    # Then the snapshot entity offers no picture
    assert ATTR_ENTITY_PICTURE not in hass.states.get(IMAGE).attributes


async def test_states_are_keys_the_frontend_shows_translated(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a hub without a vision model, no filter, and no error since it started
    await setup_hub()
    translations = await async_get_translations(hass, "en", "entity", {DOMAIN})

    def shown(entity_id: str, key: str) -> str:
        state = hass.states.get(entity_id).state
        return translations.get(f"component.{DOMAIN}.entity.sensor.{key}.state.{state}", state)

    # When a clip has been processed
    await process_clip(hass, incoming / "clip1.mp4")

    # Then the summary says in words why there is no analysis (the reason key is the state)
    summary = hass.states.get("sensor.front_door_last_summary")
    assert summary.state == "vlm_not_configured"
    assert shown("sensor.front_door_last_summary", "summary") == (
        "Not analysed: no vision model set up"
    )
    # And the objects sensor and the hub's last error read as words, not "none"/Unknown
    assert hass.states.get("sensor.front_door_last_detected_objects").state == OBJECTS_NONE
    assert shown("sensor.front_door_last_detected_objects", "detected_objects") == (
        "Nothing detected"
    )
    assert hass.states.get("sensor.homesec_last_error").state == NO_ERROR
    assert shown("sensor.homesec_last_error", "last_error") == "No errors"
    # And the counters are plain numbers (no "1 clips")
    clips = hass.states.get("sensor.front_door_clips_today")
    assert clips.state == "1"
    assert ATTR_UNIT_OF_MEASUREMENT not in clips.attributes
    assert (
        ATTR_UNIT_OF_MEASUREMENT not in hass.states.get("sensor.front_door_alerts_today").attributes
    )


def test_every_fixed_state_has_a_string() -> None:
    # Given the states the sensors can take besides free text
    sensors = json.loads((ROOT / "strings.json").read_text())["entity"]["sensor"]
    summary_states = {*SUMMARY_SKIP_STATES, SUMMARY_NOT_ANALYZED, SUMMARY_FAILED}

    # When the strings are read, Then each has its words, and no counter has a plural unit
    assert summary_states - set(sensors["summary"]["state"]) == set()
    assert set(sensors["detected_objects"]["state"]) == {OBJECTS_NONE}
    assert set(sensors["last_error"]["state"]) == {NO_ERROR}
    units = {s.get("unit_of_measurement") for s in sensors.values()}
    assert units.isdisjoint({"clips", "alerts", "calls"})


async def test_a_clip_fires_the_event_entity_once(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a camera whose clips alert (every clip alerts), and one whose clips do not
    await setup_hub(notify_on_motion=True)
    changes = StateChanges(hass, EVENT)

    # When one clip goes through every stage of the pipeline
    payload = await process_clip(hass, incoming / "clip1.mp4")

    # Then the event entity fired once (one logbook line), with what the clip came to
    assert [s.attributes["event_type"] for s in changes.states] == ["alert"]
    assert changes.states[0].attributes["clip_id"] == payload["clip_id"]
    assert set(EVENT_TYPES) >= {"alert", "analyzed", "objects_detected", "clip_recorded"}
    changes.close()


async def test_a_clip_that_does_not_alert_fires_once_when_done(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a camera whose clips do not alert (no vision model, alert on every clip off)
    await setup_hub(notify_on_motion=False)
    changes = StateChanges(hass, EVENT)

    # When two clips are processed
    first = await process_clip(hass, incoming / "clip1.mp4")
    second = await process_clip(hass, incoming / "clip2.mp4")

    # Then each fired the entity once, when it was done (recorded: nothing more came of it)
    fired = [(s.attributes["event_type"], s.attributes["clip_id"]) for s in changes.states]
    assert fired == [
        ("clip_recorded", first["clip_id"]),
        ("clip_recorded", second["clip_id"]),
    ]
    changes.close()
