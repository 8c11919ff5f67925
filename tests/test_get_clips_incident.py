"""`homesec_nvr.get_clips` with `incident_id`: the clips of one incident across grouped cameras
(real clips through the pipeline, the set-up of test_incident_across_cameras.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant

from custom_components.homesec_nvr.const import DOMAIN

from .conftest import SetupHub, camera_subentry
from .helpers import find_device, process_clip


async def get_clips(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, "get_clips", data, blocking=True, return_response=True
    )


async def _incident(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The driveway and the front door grouped, a garage in none; one clip each, in that order
    (the driveway's and the front door's are one incident). Returns the devices and clips."""
    door_folder, garage_folder = tmp_path / "door", tmp_path / "garage"
    door_folder.mkdir()
    garage_folder.mkdir()
    entry = await setup_hub(
        [
            camera_subentry("Driveway", incoming),
            camera_subentry("Front door", door_folder),
            camera_subentry("Garage", garage_folder),
        ],
        notify_on_motion=True,
        persistent_notification=False,
        camera_groups="Front: Driveway, Front door",
        incident_gap_seconds=60,
    )
    devices = {}
    for camera in entry.runtime_data.cameras.values():
        device = find_device(hass, entry.entry_id, camera.camera_id)
        assert device is not None
        devices[camera.name] = device.id
    clips = {
        "drive": await process_clip(hass, incoming / "drive.mp4"),
        "door": await process_clip(hass, door_folder / "door.mp4"),
        "garage": await process_clip(hass, garage_folder / "garage.mp4"),
    }
    assert clips["door"]["incident_id"] == clips["drive"]["clip_id"]
    return devices, clips


async def test_get_clips_finds_an_incident_of_two_cameras(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given an incident of the driveway and the front door, and the garage's own clip
    _, clips = await _incident(hass, setup_hub, incoming, tmp_path)
    incident = clips["drive"]["incident_id"]

    # When the incident's clips are asked for
    found = await get_clips(hass, incident_id=incident)

    # Then both cameras' clips come, newest first, each saying the incident, and no other clip
    assert [c["clip_id"] for c in found["clips"]] == [
        clips["door"]["clip_id"],
        clips["drive"]["clip_id"],
    ]
    assert [c["camera"] for c in found["clips"]] == ["Front door", "Driveway"]
    assert {c["incident_id"] for c in found["clips"]} == {incident}
    assert found["clips"][0]["cameras"] == ["Driveway", "Front door"]
    assert found["total"] == 2
    assert found["next_offset"] is None

    # When the garage's incident (its own clip, no event key) is asked for
    garage = await get_clips(hass, incident_id=clips["garage"]["incident_id"])

    # Then it is that clip alone
    assert [c["clip_id"] for c in garage["clips"]] == [clips["garage"]["clip_id"]]
    assert garage["clips"][0]["event_key"] is None


async def test_get_clips_an_unknown_incident_is_an_empty_list(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given a history with an incident
    await _incident(hass, setup_hub, incoming, tmp_path)

    # When an incident id that no clip has is asked for
    found = await get_clips(hass, incident_id="no_such_incident")

    # Then the answer is an empty page, not an error
    assert found == {"clips": [], "total": 0, "offset": 0, "limit": 50, "next_offset": None}


async def test_get_clips_an_incident_with_other_filters(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given an incident of the driveway and the front door, the front door's clip reviewed
    devices, clips = await _incident(hass, setup_hub, incoming, tmp_path)
    incident = clips["drive"]["incident_id"]
    await hass.services.async_call(
        DOMAIN, "review", {"clip_id": clips["door"]["clip_id"]}, blocking=True
    )

    # When the incident is asked for with a camera, a review state, a page, a search, and a
    # camera that is not in it
    door = await get_clips(hass, incident_id=incident, device_id=devices["Front door"])
    open_ = await get_clips(hass, incident_id=incident, reviewed=False)
    paged = await get_clips(hass, incident_id=incident, limit=1, offset=1)
    searched = await get_clips(hass, incident_id=incident, query="driveway")
    garage = await get_clips(hass, incident_id=incident, device_id=devices["Garage"])

    # Then each filter narrows the incident's clips
    assert [c["clip_id"] for c in door["clips"]] == [clips["door"]["clip_id"]]
    assert [c["clip_id"] for c in open_["clips"]] == [clips["drive"]["clip_id"]]
    assert [c["clip_id"] for c in paged["clips"]] == [clips["drive"]["clip_id"]]
    assert (paged["total"], paged["next_offset"]) == (2, None)
    assert [c["clip_id"] for c in searched["clips"]] == [clips["drive"]["clip_id"]]
    assert garage["clips"] == [] and garage["total"] == 0


async def test_a_camera_filtered_page_names_every_camera_of_the_first_clips_incident(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given an incident the front door joined after the driveway's clip was stored (no
    # vision model: that clip was stored knowing only the driveway), and the garage's clip
    devices, clips = await _incident(hass, setup_hub, incoming, tmp_path)
    assert clips["drive"]["cameras"] == ["Driveway"]

    # When only the driveway's clips are asked for, and only the garage's
    drive = await get_clips(hass, device_id=[devices["Driveway"]])
    garage = await get_clips(hass, device_id=[devices["Garage"]])

    # Then the driveway's clip names both cameras of its incident, in the order they joined
    [clip] = drive["clips"]
    assert clip["clip_id"] == clips["drive"]["clip_id"]
    assert clip["cameras"] == ["Driveway", "Front door"]
    assert clip["camera_ids"] == [clips["drive"]["camera_id"], clips["door"]["camera_id"]]
    # ... and a clip of no incident names its own camera alone
    assert [c["cameras"] for c in garage["clips"]] == [["Garage"]]
