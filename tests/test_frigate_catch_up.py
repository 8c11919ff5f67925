"""Frigate events that ended while Home Assistant was down are caught up from Frigate's API:
at start and when Frigate comes back online (the MQTT reconnect over a real broker is in
test_frigate_mosquitto.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from .conftest import SetupHub
from .core.frigate_server import FakeFrigate, make_clips
from .core.test_frigate_catch_up import ended
from .helpers import EventWaiter
from .test_frigate_setup import frigate_subentry


@pytest.fixture
def expected_lingering_timers() -> bool:
    """As in test_frigate_setup: the harness' mocked paho client outlives the test."""
    return True


@pytest.fixture
async def mqtt(hass: HomeAssistant, mqtt_mock: object) -> AsyncGenerator[None]:
    """Home Assistant's MQTT integration on the harness' mocked client."""
    yield
    for entry in hass.config_entries.async_entries("mqtt"):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.fixture
async def frigate(socket_enabled: None) -> AsyncGenerator[FakeFrigate]:
    async with FakeFrigate() as server:
        yield server


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clips(tmp_path / "frigate_media", seconds=4.0)[0]


async def test_events_that_ended_while_home_assistant_was_down_are_processed_at_start(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate, clip: Path
) -> None:
    # Given HomeSec with a Frigate subentry that ran once and was stopped
    entry = await setup_hub([frigate_subentry(frigate)])
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    # When a person came and went meanwhile (its MQTT end went nowhere) and HomeSec starts
    record = ended(20)
    frigate.add_event(record["id"], clip, record=record)
    processed = EventWaiter(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done(wait_background_tasks=True)

    # Then the event was downloaded and processed like a live one
    assert payload["clip_id"] == f"frigate-{record['id']}"
    assert payload["detected_classes"] == ["person"]
    assert payload["metadata"]["frigate_zones"] == ["porch"]
    assert hass.states.get("sensor.front_door_clips_today").state == "1"

    # And another restart does not process it again
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(processed.events) == 1
    assert len(frigate.paths("clip.mp4")) == 1
    assert len(frigate.queries("/api/events")) == 3
    processed.close()


async def test_frigate_back_online_catches_up_and_a_failed_catch_up_is_retried(
    hass: HomeAssistant,
    mqtt: None,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    clip: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given HomeSec running, and Frigate going offline (its last will)
    await setup_hub([frigate_subentry(frigate)])
    async_fire_mqtt_message(hass, "frigate/available", "online")
    async_fire_mqtt_message(hass, "frigate/available", "offline")
    await hass.async_block_till_done(wait_background_tasks=True)
    asked = len(frigate.queries("/api/events"))

    # When Frigate is back online but its API fails, having finished an event meanwhile
    record = ended(20)
    frigate.add_event(record["id"], clip, record=record)
    frigate.list_answers["/api/events"] = (500, "application/json", '{"detail": "busy"}')
    processed = EventWaiter(hass)
    with caplog.at_level(logging.WARNING):
        async_fire_mqtt_message(hass, "frigate/available", "online")
        await hass.async_block_till_done(wait_background_tasks=True)

    # Then the failure is logged (nothing raised) and nothing was processed
    assert len(frigate.queries("/api/events")) == asked + 1
    assert "Cannot catch up on Frigate events" in caplog.text
    assert processed.events == []

    # And at the next transition, with the API answering again, the event is processed
    del frigate.list_answers["/api/events"]
    async_fire_mqtt_message(hass, "frigate/available", "offline")
    async_fire_mqtt_message(hass, "frigate/available", "online")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done(wait_background_tasks=True)
    assert payload["clip_id"] == f"frigate-{record['id']}"
    assert hass.states.get("binary_sensor.frigate_127_0_0_1_connected").state == "on"
    processed.close()


async def test_catch_up_limits_come_from_the_subentry(
    hass: HomeAssistant, mqtt: None, setup_hub: SetupHub, frigate: FakeFrigate
) -> None:
    # Given a Frigate subentry that sets the catch-up bounds
    entry = await setup_hub(
        [frigate_subentry(frigate, catch_up_max_events=7, catch_up_max_age_s=3600)]
    )

    # When HomeSec starts (and catches up)
    await hass.async_block_till_done(wait_background_tasks=True)

    # Then Frigate was asked for at most 7 events, and diagnostics show both bounds
    assert frigate.queries("/api/events")[0]["limit"] == "7"
    kind = next(iter(entry.runtime_data.kinds.values()))
    catch_up = kind.diagnostics()["catch_up"]
    assert (catch_up["max_events"], catch_up["max_age_s"]) == (7, 3600.0)
    assert catch_up["in_sync"] is True
