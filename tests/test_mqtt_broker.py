"""Home Assistant's real MQTT integration talks to a real Mosquitto broker (tests/mosquitto.py)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from pytest_homeassistant_custom_component.common import MockConfigEntry

if TYPE_CHECKING:
    from .mosquitto import MosquittoBroker

pytest_plugins = ["tests.mosquitto"]

MESSAGE_TIMEOUT_S = 5.0

FRIGATE_EVENT = json.dumps(
    {
        "type": "new",
        "before": {"id": "1718000000.123456-abcdef", "camera": "front_door", "label": "person"},
        "after": {"id": "1718000000.123456-abcdef", "camera": "front_door", "label": "person"},
    }
)


async def test_outside_message_reaches_home_assistant_subscriber(
    hass: HomeAssistant, mosquitto_broker: MosquittoBroker, mqtt_with_broker: MockConfigEntry
) -> None:
    """A message published by a paho client outside HA reaches an HA MQTT subscriber."""
    # Given: a Home Assistant subscriber to frigate/events, active at the broker
    received: asyncio.Queue[mqtt.ReceiveMessage] = asyncio.Queue()

    @callback
    def _on_message(message: mqtt.ReceiveMessage) -> None:
        received.put_nowait(message)

    unsubscribe = await mqtt.async_subscribe(hass, "frigate/events", _on_message)
    await mosquitto_broker.async_wait_for_subscription("frigate/events")

    # When: an outside client publishes a Frigate event
    await mosquitto_broker.async_publish("frigate/events", FRIGATE_EVENT)

    # Then: the subscriber gets it, payload unchanged
    async with asyncio.timeout(MESSAGE_TIMEOUT_S):
        message = await received.get()
    assert message.topic == "frigate/events"
    assert message.payload == FRIGATE_EVENT
    assert not message.retain
    unsubscribe()


async def test_home_assistant_publish_reaches_outside_subscriber(
    hass: HomeAssistant, mosquitto_broker: MosquittoBroker, mqtt_with_broker: MockConfigEntry
) -> None:
    """A message published with mqtt.async_publish reaches a paho subscriber outside HA."""
    # Given: a paho client outside Home Assistant subscribed to homesec/test
    async with await mosquitto_broker.async_subscribe("homesec/test") as subscriber:
        # When: Home Assistant publishes on that topic
        await mqtt.async_publish(hass, "homesec/test", "armed", qos=1)

        # Then: the outside client receives exactly that payload
        message = await subscriber.async_get()
    assert message.topic == "homesec/test"
    assert message.payload == b"armed"
