"""Adding a camera starts it live: the other cameras' entities never go unavailable; other
changes (a camera removed, options) still reload the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigSubentry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.homesec_nvr.const import (
    CONF_FOLDER,
    CONF_POLL_INTERVAL_S,
    CONF_STABLE_TIME_S,
    SUBENTRY_LOCAL_FOLDER,
)

from .conftest import SetupHub
from .core.rtsp_fixture import RtspServer
from .helpers import EventWaiter, find_device, process_clip
from .test_rtsp_setup import rtsp, rtsp_subentry, scene  # noqa: F401  (fixtures)
from .video import write_clip


class Unavailable:
    """Every entity that went unavailable (or was removed) while it watched."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.entity_ids: list[str] = []
        self.close = hass.bus.async_listen("state_changed", self._handle)

    @callback
    def _handle(self, event: Event[Any]) -> None:
        new = event.data["new_state"]
        if new is None or new.state == STATE_UNAVAILABLE:
            self.entity_ids.append(event.data["entity_id"])


async def add_folder_camera(hass: HomeAssistant, entry_id: str, name: str, folder: Path) -> None:
    """Add a watched-folder camera through its form, as the user does."""
    result = await hass.config_entries.subentries.async_init(
        (entry_id, SUBENTRY_LOCAL_FOLDER), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": name,
            CONF_FOLDER: str(folder),
            CONF_POLL_INTERVAL_S: 0.5,
            CONF_STABLE_TIME_S: 0.5,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_adding_a_camera_starts_it_without_reloading_the_hub(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given a running hub whose camera has processed a clip
    entry = await setup_hub()
    hub = entry.runtime_data
    await process_clip(hass, incoming / "clip1.mp4")
    unavailable = Unavailable(hass)
    folder = tmp_path / "back_yard"
    folder.mkdir()

    # When the user adds a second camera
    await add_folder_camera(hass, entry.entry_id, "Back yard", folder)

    # Then the hub kept running: no entity of the first camera went unavailable or away
    assert entry.runtime_data is hub
    assert unavailable.entity_ids == []
    assert hass.states.get("sensor.front_door_clips_today").state == "1"
    # And the new camera has its device and entities, under its subentry
    subentry_id = next(s.subentry_id for s in entry.subentries.values() if s.title == "Back yard")
    assert find_device(hass, entry.entry_id, subentry_id) is not None
    registered = er.async_get(hass).async_get("sensor.back_yard_clips_today")
    assert registered is not None and registered.config_subentry_id == subentry_id
    assert hass.states.get("event.back_yard_activity") is not None
    assert hass.states.get("image.back_yard_snapshot") is not None

    # When each camera records a clip
    back_yard = await process_clip(hass, folder / "clip.mp4")
    front_door = await process_clip(hass, incoming / "clip2.mp4")

    # Then both are processed, each by its own camera
    assert back_yard["camera"] == "Back yard"
    assert front_door["camera"] == "Front door"
    assert hass.states.get("sensor.back_yard_clips_today").state == "1"
    assert hass.states.get("sensor.front_door_clips_today").state == "2"
    assert unavailable.entity_ids == []
    unavailable.close()


async def test_a_second_camera_added_later_also_starts_live(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a hub that already had a camera added while running
    entry = await setup_hub(subentries=[])
    hub = entry.runtime_data
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    await add_folder_camera(hass, entry.entry_id, "Garage", first)

    # When another camera is added
    await add_folder_camera(hass, entry.entry_id, "Garden", second)

    # Then it started live too and picks up its clips
    assert entry.runtime_data is hub
    assert {c.name for c in hub.cameras.values()} == {"Garage", "Garden"}
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, second / "clip.mp4")
    assert (await processed.wait(1))[0].data["camera"] == "Garden"
    processed.close()


async def test_removing_a_camera_or_changing_options_reloads(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a hub with two cameras added while it ran
    entry = await setup_hub(subentries=[])
    for name in ("Garage", "Garden"):
        (tmp_path / name).mkdir()
        await add_folder_camera(hass, entry.entry_id, name, tmp_path / name)
    hub = entry.runtime_data

    # When one camera is removed
    garage = next(s.subentry_id for s in entry.subentries.values() if s.title == "Garage")
    assert hass.config_entries.async_remove_subentry(entry, garage)
    await hass.async_block_till_done()

    # Then the hub was reloaded without it
    reloaded = entry.runtime_data
    assert reloaded is not hub
    assert {c.name for c in reloaded.cameras.values()} == {"Garden"}

    # When an option changes
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "alert_hold_seconds": 42}
    )
    await hass.async_block_till_done()

    # Then the hub was reloaded with it
    assert entry.runtime_data is not reloaded


async def test_an_rtsp_camera_added_live_gets_its_stream_entities_and_records(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    rtsp: RtspServer,  # noqa: F811
    socket_enabled: None,
) -> None:
    # Given a running hub with a watched-folder camera
    entry = await setup_hub()
    hub = entry.runtime_data
    unavailable = Unavailable(hass)
    processed = EventWaiter(hass)

    # When an RTSP camera is added (as its form stores it)
    data = rtsp_subentry(rtsp)
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=data["data"],
            subentry_type=data["subentry_type"],
            title=data["title"],
            unique_id=data["unique_id"],
        ),
    )
    await hass.async_block_till_done()

    # Then its kind's own entities appear, and its stream is recorded, without a reload
    assert entry.runtime_data is hub
    assert hass.states.get("binary_sensor.driveway_motion") is not None
    payload = (await processed.wait(1, timeout=30))[0].data
    assert payload["camera"] == "Driveway"
    assert payload["source"] == "rtsp"
    assert hass.states.get("binary_sensor.driveway_stream_connected").state == "on"
    # And nothing of the first camera went unavailable meanwhile
    assert [e for e in unavailable.entity_ids if "front_door" in e] == []
    processed.close()
    unavailable.close()


async def test_a_camera_added_while_the_hub_unloads_is_left_for_the_next_start(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a running hub and a camera subentry added to its entry
    entry = await setup_hub()
    hub = entry.runtime_data
    folder = tmp_path / "back_yard"
    folder.mkdir()
    subentry = ConfigSubentry(
        data={CONF_FOLDER: str(folder), CONF_POLL_INTERVAL_S: 0.5, CONF_STABLE_TIME_S: 0.5},
        subentry_type=SUBENTRY_LOCAL_FOLDER,
        title="Back yard",
        unique_id=None,
    )

    # When the hub stopped (HomeSec unloading) before the live start of the camera ran
    await hub.async_stop()
    await hub.async_add_subentries([subentry])

    # Then nothing was started and no error escaped: the closed database was not read
    assert all(camera.name != "Back yard" for camera in hub.cameras.values())
