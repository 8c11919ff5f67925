"""Clips of grouped cameras (an area) are one incident: one phone notification, updated."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.data_entry_flow import FlowResultType

from .conftest import SetupHub, camera_subentry
from .helpers import open_options, process_clip


def register_phone(hass: HomeAssistant) -> list[ServiceCall]:
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    return calls


async def test_two_grouped_cameras_close_together_are_one_updated_notification(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given the driveway and the front door in the group "Front", a garage in no group, every
    # clip alerting, and a phone
    door_folder, garage_folder = tmp_path / "door", tmp_path / "garage"
    door_folder.mkdir()
    garage_folder.mkdir()
    calls = register_phone(hass)
    await setup_hub(
        [
            camera_subentry("Driveway", incoming),
            camera_subentry("Front door", door_folder),
            camera_subentry("Garage", garage_folder),
        ],
        notify_on_motion=True,
        notify_services=["notify.phone"],
        persistent_notification=False,
        camera_groups="Front: Driveway, Front door",
        incident_gap_seconds=60,
    )

    # When the driveway records a person, then the front door right after, then the garage
    drive = await process_clip(hass, incoming / "drive.mp4")
    door = await process_clip(hass, door_folder / "door.mp4")
    garage = await process_clip(hass, garage_folder / "garage.mp4")

    # Then the front door's clip is part of the driveway's incident, with both cameras
    assert drive["incident_id"] == drive["clip_id"]
    assert drive["cameras"] == ["Driveway"]
    assert door["incident_id"] == drive["clip_id"]
    assert door["event_key"] == drive["clip_id"]
    assert door["cameras"] == ["Driveway", "Front door"]
    assert door["camera"] == "Front door"
    # And the garage, in no group, is its own incident
    assert garage["incident_id"] == garage["clip_id"]
    assert garage["event_key"] is None
    assert garage["cameras"] == ["Garage"]
    # And the phone got one notification for the incident, updated quietly, and the garage's
    tags = [c.data["data"]["tag"] for c in calls]
    assert tags == [f"homesec_{drive['clip_id']}"] * 2 + [f"homesec_{garage['clip_id']}"]
    assert "alert_once" not in calls[0].data["data"]
    assert calls[1].data["data"]["alert_once"] is True
    assert "alert_once" not in calls[2].data["data"]
    # ... the update naming both cameras of the incident, the garage's its own
    assert [c.data["title"] for c in calls] == [
        "HomeSec: Driveway",
        "HomeSec: Driveway, Front door",
        "HomeSec: Garage",
    ]
    assert calls[1].data["message"].startswith("Driveway, Front door at ")


async def test_a_group_naming_a_missing_camera_is_refused(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a hub with one camera, "Front door"
    entry = await setup_hub()

    # When the user groups it with a camera the hub does not have
    result = await open_options(hass, entry.entry_id, "alerts")
    values = {
        k: v
        for k, v in entry.options.items()
        if k in ("alerts_enabled", "min_risk_level", "notify_on_motion", "trigger_classes")
    }
    refused = await hass.config_entries.options.async_configure(
        result["flow_id"], {**values, "camera_groups": "Front: Front door, Shed"}
    )

    # Then the form says which field is wrong and nothing is saved
    assert refused["type"] is FlowResultType.FORM
    assert refused["errors"] == {"camera_groups": "unknown_camera"}
    assert entry.options.get("camera_groups", "") == ""

    # When the group names only the hub's camera (by any case)
    saved = await hass.config_entries.options.async_configure(
        refused["flow_id"],
        {**values, "camera_groups": " front door \n", "incident_gap_seconds": 20},
    )
    await hass.async_block_till_done()

    # Then it is saved, trimmed
    assert saved["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["camera_groups"] == "front door"
    assert entry.options["incident_gap_seconds"] == 20


async def test_an_incident_goes_on_across_a_reload(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given grouped cameras that delete their files once stored (nothing is handed over
    # again at a start), every clip alerting, a phone, and a driveway clip that finished
    door_folder = tmp_path / "door"
    door_folder.mkdir()
    calls = register_phone(hass)
    entry = await setup_hub(
        [
            camera_subentry("Driveway", incoming, delete_after_store=True),
            camera_subentry("Front door", door_folder, delete_after_store=True),
        ],
        notify_on_motion=True,
        notify_services=["notify.phone"],
        persistent_notification=False,
        camera_groups="Front: Driveway, Front door",
        incident_gap_seconds=60,
    )
    drive = await process_clip(hass, incoming / "drive.mp4")
    assert not (incoming / "drive.mp4").exists()

    # When HomeSec reloads (options saved, or Home Assistant restarted) and the front door
    # records right after
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    door = await process_clip(hass, door_folder / "door.mp4")

    # Then the front door's clip is still part of the driveway's incident, with both cameras,
    # and its notification updates the incident's instead of adding another
    assert door["incident_id"] == drive["clip_id"]
    assert door["cameras"] == ["Driveway", "Front door"]
    tags = [c.data["data"]["tag"] for c in calls]
    assert tags == [f"homesec_{drive['clip_id']}"] * 2
    assert calls[1].data["data"]["alert_once"] is True


async def test_a_camera_s_group_window_goes_on_across_a_reload(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a camera in no group whose clips join within a group window, and a finished clip
    entry = await setup_hub(
        [camera_subentry("Front door", incoming, delete_after_store=True)],
        group_window_seconds=60,
        notify_on_motion=True,
    )
    first = await process_clip(hass, incoming / "a.mp4")
    assert not (incoming / "a.mp4").exists()  # not handed over again at the next start

    # When HomeSec reloads and the camera uploads the next part of the visit
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    second = await process_clip(hass, incoming / "b.mp4")

    # Then the second clip is still part of the first's event
    assert second["event_key"] == first["clip_id"]
