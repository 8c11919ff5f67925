"""End to end through a real Mosquitto broker and Home Assistant's real MQTT client:
Frigate publishes `end`, HomeSec downloads the clip from (fake) Frigate, analyses it, and the
Home Assistant event fires."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from homeassistant.components.mqtt import client as mqtt_client
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import SetupHub
from .core.frigate_server import FakeFrigate, event_message, make_clips
from .core.test_frigate_catch_up import ended
from .helpers import EventWaiter, wait_for_state
from .test_frigate_setup import EVENT_ID, frigate_subentry

if TYPE_CHECKING:
    from .mosquitto import MosquittoBroker

pytest_plugins = ["tests.mosquitto"]


@pytest.fixture
async def frigate(socket_enabled: None, tmp_path: Path) -> AsyncGenerator[FakeFrigate]:
    """A fake Frigate whose first clip answer is 'not ready yet' (as real Frigate often is)."""
    async with FakeFrigate() as server:
        clip, _truncated = make_clips(tmp_path / "frigate_media", seconds=4.0)
        server.add_event(EVENT_ID, clip, script=["not_ready"])
        yield server


async def test_frigate_end_over_a_real_broker_fires_the_home_assistant_event(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    mqtt_with_broker: MockConfigEntry,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
) -> None:
    # Given HomeSec with a Frigate subentry, subscribed through HA's real MQTT client
    await setup_hub([frigate_subentry(frigate)])
    await mosquitto_broker.async_wait_for_subscription("frigate/events")
    processed = EventWaiter(hass)

    # When Frigate publishes the end of a tracked person on the broker
    await mosquitto_broker.async_publish("frigate/available", "online", retain=True)
    await mosquitto_broker.async_publish("frigate/events", event_message("end"))
    payload = (await processed.wait(1, timeout=20))[0].data
    await hass.async_block_till_done()

    # Then the clip was fetched (after Frigate's "not ready" answer), analysed and stored
    assert payload["clip_id"] == f"frigate-{EVENT_ID}"
    assert payload["detected_classes"] == ["person"]
    assert payload["media_url"] is not None
    assert len(frigate.paths("clip.mp4")) == 2
    assert hass.states.get("binary_sensor.frigate_127_0_0_1_connected").state == "on"
    assert hass.states.get("event.front_door_activity").attributes["clip_id"] == payload["clip_id"]
    processed.close()


async def test_frigate_camera_entities_are_unavailable_while_mqtt_is_disconnected(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    mqtt_with_broker: MockConfigEntry,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from .mosquitto import async_wait_mqtt_connected  # a plugin: imported once it is loaded

    # Given a Frigate camera seen once, over a real broker (HA retries the broker quickly)
    monkeypatch.setattr(mqtt_client, "RECONNECT_INTERVAL_SECONDS", 0.2)
    await setup_hub([frigate_subentry(frigate)])
    await mosquitto_broker.async_wait_for_subscription("frigate/events")
    processed = EventWaiter(hass)
    await mosquitto_broker.async_publish("frigate/events", event_message("end"))
    await processed.wait(1, timeout=20)
    processed.close()
    await wait_for_state(hass, "sensor.front_door_last_detected_objects", "person")

    # When the broker goes away
    await hass.async_add_executor_job(mosquitto_broker.stop)
    await async_wait_mqtt_connected(hass, connected=False)
    await hass.async_block_till_done()

    # Then the camera's entities are unavailable; the server's connectivity sensor says off
    assert hass.states.get("sensor.front_door_last_detected_objects").state == STATE_UNAVAILABLE
    assert hass.states.get("event.front_door_activity").state == STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.frigate_127_0_0_1_connected").state == "off"

    # And once the broker is back, Home Assistant reconnects and the entities are back
    await hass.async_add_executor_job(mosquitto_broker.restart)
    await async_wait_mqtt_connected(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.front_door_last_detected_objects").state == "person"
    assert hass.states.get("binary_sensor.frigate_127_0_0_1_connected").state == "on"


async def test_an_event_that_ended_while_the_broker_was_down_is_caught_up_on_reconnect(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    mqtt_with_broker: MockConfigEntry,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from .mosquitto import async_wait_mqtt_connected  # a plugin: imported once it is loaded

    # Given HomeSec subscribed over a real broker (HA retries the broker quickly)
    monkeypatch.setattr(mqtt_client, "RECONNECT_INTERVAL_SECONDS", 0.2)
    await setup_hub([frigate_subentry(frigate)])
    await mosquitto_broker.async_wait_for_subscription("frigate/events")
    await hass.async_block_till_done(wait_background_tasks=True)
    processed = EventWaiter(hass)

    # When the broker goes away, Frigate finishes a person meanwhile (its `end` reaches
    # nobody: Frigate's events are not retained), and the broker comes back
    await hass.async_add_executor_job(mosquitto_broker.stop)
    await async_wait_mqtt_connected(hass, connected=False)
    record = ended(20)
    frigate.add_event(record["id"], frigate.events[EVENT_ID].clip, record=record)
    await hass.async_add_executor_job(mosquitto_broker.restart)
    await async_wait_mqtt_connected(hass)

    # Then the reconnect caught up on it from Frigate's API: downloaded and processed
    payload = (await processed.wait(1, timeout=20))[0].data
    await hass.async_block_till_done(wait_background_tasks=True)
    assert payload["clip_id"] == f"frigate-{record['id']}"
    assert frigate.paths("clip.mp4") == [f"/api/events/{record['id']}/clip.mp4"]
    assert len(frigate.queries("/api/events")) == 2
    processed.close()
