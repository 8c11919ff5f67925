"""A live-alerted event survives a restart of HomeSec: Frigate's `new` alerts the phone, the
config entry is reloaded while Frigate still tracks the object, and neither its next `update`
nor its clip alerts it a second time: the clip's alert replaces the live notification (the
same tag, quietly) because the live alerts' memory is in the clip store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, ServiceCall
from pytest_homeassistant_custom_component.common import (
    async_fire_mqtt_message,
    async_mock_service,
)
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.homesec_nvr.const import EVENT_LIVE_DETECTION
from custom_components.homesec_nvr.diagnostics import async_get_config_entry_diagnostics

from .conftest import SetupHub
from .core.frigate_server import FakeFrigate, event_message, make_clips
from .helpers import EventWaiter
from .test_frigate_setup import EVENT_ID, frigate_subentry

TAG = f"homesec_{EVENT_ID}"


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The harness' mocked paho client never unregisters its socket (see test_frigate_setup)."""
    return True


@pytest.fixture
async def mqtt(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> AsyncGenerator[None]:
    """Home Assistant's MQTT integration on the harness' mocked client; unloaded at the end."""
    yield
    for entry in hass.config_entries.async_entries("mqtt"):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def frigate(socket_enabled: None, tmp_path: Path) -> AsyncGenerator[FakeFrigate]:
    """A fake Frigate 0.17 with one person's clip."""
    async with FakeFrigate() as server:
        clip, _truncated = make_clips(tmp_path / "frigate_media", seconds=4.0)
        server.add_event(EVENT_ID, clip)
        yield server


async def _calls(calls: list[ServiceCall], count: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while len(calls) < count:
        assert time.monotonic() < deadline, f"expected {count} notify call(s), got {len(calls)}"
        await asyncio.sleep(0.02)


def _found(data: Any, key: str) -> list[Any]:
    """Every value of `key` anywhere in the diagnostics."""
    if isinstance(data, dict):
        return [
            *([data[key]] if key in data else []),
            *(v for value in data.values() for v in _found(value, key)),
        ]
    if isinstance(data, list):
        return [v for item in data for v in _found(item, key)]
    return []


async def test_a_reload_during_an_event_neither_alerts_it_again_nor_breaks_the_follow_up(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a Frigate camera alerting a phone, which Frigate's `new` for a person alerted live
    calls = async_mock_service(hass, "notify", "phone")
    entry = await setup_hub(
        [frigate_subentry(frigate)], notify_services=["notify.phone"], persistent_notification=False
    )
    live = EventWaiter(hass, EVENT_LIVE_DETECTION)
    processed = EventWaiter(hass)
    async_fire_mqtt_message(hass, "frigate/events", event_message("new", end_time=None))
    await live.wait(1)
    await _calls(calls, 1)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert calls[0].data["data"]["tag"] == TAG
    assert "alert_once" not in calls[0].data["data"]

    # When the config entry is reloaded while Frigate still tracks the person
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    hub = entry.runtime_data
    assert hub.live.diagnostics()["events_remembered"] == 1
    # ... and Frigate sends an `update` of the event (the new source reports it live)
    async_fire_mqtt_message(hass, "frigate/events", event_message("update", end_time=None))
    await hass.async_block_till_done(wait_background_tasks=True)

    # Then the update reached HomeSec but was neither reported nor alerted again
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert _found(diagnostics, "detections_reported") == [1]
    assert len(live.events) == 1
    assert len(calls) == 1
    assert hub.live.diagnostics()["detections"] == 0

    # When Frigate ends the event and its clip is processed
    async_fire_mqtt_message(hass, "frigate/events", event_message("end"))
    payload = (await processed.wait(1, timeout=20))[0].data
    await _calls(calls, 2)
    await hass.async_block_till_done(wait_background_tasks=True)

    # Then the clip's alert is the second and last notification: a quiet follow-up that
    # replaces the live one (the same tag), and nothing was reported live after the reload
    assert payload["clip_id"] == f"frigate-{EVENT_ID}"
    assert len(calls) == 2
    follow_up = calls[1].data["data"]
    assert follow_up["tag"] == TAG
    assert follow_up["alert_once"] is True
    assert len(live.events) == 1
    live.close()
    processed.close()
