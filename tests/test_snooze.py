"""Snoozing a camera's alerts: the service action, and the notifications' "Snooze 1 h"
button (the companion apps' `mobile_app_notification_action` event)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from custom_components.homesec_nvr.const import DOMAIN

from .conftest import SetupHub
from .helpers import EventWaiter, find_device
from .video import write_clip


async def _clip(hass: HomeAssistant, incoming: Path, name: str, waiter: EventWaiter) -> Any:
    await hass.async_add_executor_job(write_clip, incoming / name)
    await waiter.wait(len(waiter.events) + 1)
    await hass.async_block_till_done()
    return waiter.events[-1].data


async def test_the_snooze_service_holds_back_a_cameras_alerts_until_it_ends(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a camera that alerts on every clip
    entry = await setup_hub(notify_on_motion=True)
    camera_id = next(iter(entry.runtime_data.cameras))
    device = find_device(hass, entry.entry_id, camera_id)
    assert device is not None
    processed = EventWaiter(hass)

    # When its alerts are snoozed for 30 minutes and a clip arrives
    response = await hass.services.async_call(
        DOMAIN,
        "snooze",
        {"device_id": device.id, "minutes": 30},
        blocking=True,
        return_response=True,
    )
    held = await _clip(hass, incoming, "a.mp4", processed)

    # Then the clip is processed but does not alert, and says why; the response says until when
    assert response is not None
    assert response["camera"] == "Front door"
    until = dt_util.parse_datetime(str(response["snoozed_until"]))
    assert until is not None
    assert abs((until - dt_util.utcnow() - timedelta(minutes=30)).total_seconds()) < 60
    assert held["status"] == "done"
    assert held["alert"] is False
    assert held["reason"].startswith("snoozed until ")

    # When the snooze is ended (0 minutes) and another clip arrives
    await hass.services.async_call(
        DOMAIN, "snooze", {"device_id": device.id, "minutes": 0}, blocking=True
    )
    after = await _clip(hass, incoming, "b.mp4", processed)

    # Then it alerts again
    assert after["alert"] is True
    processed.close()


async def test_the_notifications_snooze_button_snoozes_its_camera(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a phone's notify service and a camera that alerts
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    await setup_hub(notify_on_motion=True, notify_services=["notify.phone"])
    processed = EventWaiter(hass)
    first = await _clip(hass, incoming, "a.mp4", processed)

    # When the user presses the notification's snooze button, and the next clip arrives
    actions = calls[0].data["data"]["actions"]
    snooze = next(a for a in actions if a["title"] == "Snooze 1 h")
    hass.bus.async_fire("mobile_app_notification_action", {"action": snooze["action"]})
    await hass.async_block_till_done()
    second = await _clip(hass, incoming, "b.mp4", processed)

    # Then the notification offered the clip and the snooze, and the next clip did not alert
    assert first["alert"] is True
    assert actions[0]["action"] == "URI"
    assert actions[0]["uri"].startswith(f"/api/homesec_nvr/clips/{first['clip_id']}/clip?")
    assert second["alert"] is False
    assert second["reason"].startswith("snoozed until ")
    assert len(calls) == 1
    processed.close()


async def test_snoozing_something_that_is_not_a_camera_is_refused(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub
    entry = await setup_hub()
    hub_device = find_device(hass, entry.entry_id, entry.entry_id)
    assert hub_device is not None

    # When the hub device or an unknown device is snoozed
    # Then each is a translated validation error
    for device_id in (hub_device.id, "no-such-device"):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "snooze", {"device_id": device_id}, blocking=True
            )
        assert err.value.translation_key == "not_a_camera"


async def test_snoozing_with_alerts_turned_off_is_refused(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a hub with alerts turned off
    entry = await setup_hub(alerts_enabled=False)
    device = find_device(hass, entry.entry_id, next(iter(entry.runtime_data.cameras)))
    assert device is not None

    # When a camera is snoozed
    # Then it is refused and says why
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "snooze", {"device_id": device.id}, blocking=True)
    assert err.value.translation_key == "alerts_disabled"
