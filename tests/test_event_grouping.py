"""A watched-folder camera's clips grouped into one event: one phone notification, updated."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant, ServiceCall

from .conftest import SetupHub
from .helpers import process_clip


async def test_clips_within_the_group_window_update_one_notification(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a camera that alerts on every clip, a 60 s group window and a phone
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    await setup_hub(
        notify_on_motion=True,
        notify_services=["notify.phone"],
        persistent_notification=False,
        group_window_seconds=60,
    )

    # When the camera uploads one visit as two files, one after the other
    first = await process_clip(hass, incoming / "visit-1.mp4")
    second = await process_clip(hass, incoming / "visit-2.mp4")

    # Then the second clip belongs to the first clip's event
    assert first["event_key"] is None
    assert second["event_key"] == first["clip_id"]
    # And the phone's notification is replaced, quietly, not doubled
    assert len(calls) == 2
    tags = [c.data["data"]["tag"] for c in calls]
    assert tags == [f"homesec_{first['clip_id']}"] * 2
    assert "alert_once" not in calls[0].data["data"]
    assert calls[1].data["data"]["alert_once"] is True


async def test_without_a_group_window_each_clip_is_its_own_notification(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given the same camera without a group window (the default)
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    await setup_hub(
        notify_on_motion=True, notify_services=["notify.phone"], persistent_notification=False
    )

    # When two clips arrive one after the other
    first = await process_clip(hass, incoming / "a.mp4")
    second = await process_clip(hass, incoming / "b.mp4")

    # Then each has its own notification, both ringing
    assert [c.data["data"]["tag"] for c in calls] == [
        f"homesec_{first['clip_id']}",
        f"homesec_{second['clip_id']}",
    ]
    assert all("alert_once" not in c.data["data"] for c in calls)
