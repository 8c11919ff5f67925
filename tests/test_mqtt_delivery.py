"""MQTT delivery through a real Mosquitto and Home Assistant's real MQTT integration: each
alert as JSON on `<prefix>/<camera>/alert`, its snapshot, and the camera's retained last
analysis, as a subscriber outside Home Assistant sees them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homesec_nvr.const import (
    CONF_MQTT_ENABLED,
    CONF_MQTT_QOS,
    CONF_MQTT_RETAIN,
    CONF_MQTT_SNAPSHOT,
    CONF_MQTT_TOPIC_PREFIX,
)

from .conftest import SetupHub
from .helpers import EventWaiter, open_options
from .video import write_clip

if TYPE_CHECKING:
    from .mosquitto import MosquittoBroker

pytest_plugins = ["tests.mosquitto"]

MQTT_OPTIONS = {
    CONF_MQTT_ENABLED: True,
    CONF_MQTT_TOPIC_PREFIX: "home/security",
    CONF_MQTT_QOS: 1,
    CONF_MQTT_RETAIN: True,
    CONF_MQTT_SNAPSHOT: True,
}


async def test_an_alert_reaches_an_outside_subscriber_with_its_snapshot_and_analysis(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    mqtt_with_broker: MockConfigEntry,
    setup_hub: SetupHub,
    incoming: Path,
) -> None:
    # Given HomeSec publishing to MQTT under home/security, and a subscriber outside HA
    await setup_hub(notify_on_motion=True, **MQTT_OPTIONS)
    subscriber = await mosquitto_broker.async_subscribe("home/security/#")
    processed = EventWaiter(hass)

    # When a clip of the front door alerts
    await hass.async_add_executor_job(write_clip, incoming / "door.mp4")
    payload = (await processed.wait(1))[0].data
    messages = {}
    for _ in range(3):
        message = await subscriber.async_get()
        messages[message.topic] = message

    # Then the alert JSON, the snapshot JPEG and the retained last analysis arrived
    assert set(messages) == {
        "home/security/front_door/alert",
        "home/security/front_door/snapshot",
        "home/security/front_door/analysis",
    }
    alert = json.loads(messages["home/security/front_door/alert"].payload)
    assert alert["clip_id"] == payload["clip_id"]
    assert alert["camera"] == "Front door"
    assert alert["alert"] is True
    assert alert["reason"] == payload["reason"]
    assert alert["media_url"].startswith(f"/api/homesec_nvr/clips/{payload['clip_id']}/clip?")
    assert messages["home/security/front_door/alert"].qos == 1
    assert messages["home/security/front_door/snapshot"].payload[:2] == b"\xff\xd8"
    analysis = json.loads(messages["home/security/front_door/analysis"].payload)
    assert analysis["clip_id"] == payload["clip_id"]
    assert analysis["status"] == "done"
    subscriber.close()

    # When another subscriber connects later
    late = await mosquitto_broker.async_subscribe("home/security/front_door/+")
    retained = {}
    for _ in range(3):
        message = await late.async_get()
        retained[message.topic] = message

    # Then it gets the retained alert, snapshot and analysis at once
    assert all(m.retain for m in retained.values())
    assert (
        json.loads(retained["home/security/front_door/analysis"].payload)["clip_id"]
        == (payload["clip_id"])
    )
    late.close()
    processed.close()


async def test_mqtt_delivery_is_recorded_like_every_notifier(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    mqtt_with_broker: MockConfigEntry,
    setup_hub: SetupHub,
    incoming: Path,
) -> None:
    # Given HomeSec publishing alerts (not retained) to MQTT
    entry = await setup_hub(
        notify_on_motion=True,
        **{**MQTT_OPTIONS, CONF_MQTT_RETAIN: False, CONF_MQTT_SNAPSHOT: False},
    )
    subscriber = await mosquitto_broker.async_subscribe("home/security/+/alert")
    processed = EventWaiter(hass)

    # When a clip alerts
    await hass.async_add_executor_job(write_clip, incoming / "door.mp4")
    payload = (await processed.wait(1))[0].data
    message = await subscriber.async_get()

    # Then the alert was published once, not retained, and the store records MQTT as sent
    # (so a restart never publishes it again)
    assert json.loads(message.payload)["clip_id"] == payload["clip_id"]
    assert message.retain is False
    sent = await entry.runtime_data.store.notifications_sent(payload["clip_id"])
    assert "mqtt" in sent
    subscriber.close()
    processed.close()


async def test_the_options_refuse_mqtt_without_the_mqtt_integration_and_odd_prefixes(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub and no MQTT integration
    entry = await setup_hub()

    # When the user turns MQTT on, or gives a prefix with a wildcard
    result = await open_options(hass, entry.entry_id, "notifications")
    no_mqtt = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_MQTT_ENABLED: True, CONF_MQTT_TOPIC_PREFIX: "homesec"}
    )
    wildcard = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_MQTT_ENABLED: False, CONF_MQTT_TOPIC_PREFIX: "home/#"}
    )

    # Then each is refused on its field
    assert no_mqtt["type"] is FlowResultType.FORM
    assert no_mqtt["errors"] == {CONF_MQTT_ENABLED: "mqtt_not_set_up"}
    assert wildcard["errors"] == {CONF_MQTT_TOPIC_PREFIX: "invalid_topic_prefix"}

    # When the user fixes it (MQTT stays off, prefix with slashes around it)
    saved = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_MQTT_ENABLED: False, CONF_MQTT_TOPIC_PREFIX: "/home/cams/", CONF_MQTT_QOS: 2.0},
    )
    await hass.async_block_till_done()

    # Then the cleaned prefix and the QoS as a number are stored
    assert saved["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_MQTT_TOPIC_PREFIX] == "home/cams"
    assert entry.options[CONF_MQTT_QOS] == 2
