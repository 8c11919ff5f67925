"""Frigate's live alerts end to end, through a real Mosquitto broker and Home Assistant's real
MQTT client: Frigate's `new` alerts the phone at once (Frigate's snapshot behind a signed link),
before the clip exists; the clip's alert after `end` updates the same notification."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from homeassistant.core import HomeAssistant, ServiceCall
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.homesec_nvr.const import EVENT_LIVE_DETECTION

from .conftest import SetupHub
from .core.frigate_server import SNAPSHOT_JPEG, FakeFrigate, event_message, make_clips
from .core.test_frigate_catch_up import ended
from .helpers import EventWaiter
from .test_frigate_setup import EVENT_ID, frigate_subentry

if TYPE_CHECKING:
    from .mosquitto import MosquittoBroker

pytest_plugins = ["tests.mosquitto"]

TAG = f"homesec_{EVENT_ID}"


@pytest.fixture
async def frigate(socket_enabled: None, tmp_path: Path) -> AsyncGenerator[FakeFrigate]:
    """A fake Frigate 0.17 with one person's clip (and its snapshot)."""
    async with FakeFrigate() as server:
        clip, _truncated = make_clips(tmp_path / "frigate_media", seconds=4.0)
        server.add_event(EVENT_ID, clip)
        yield server


async def _calls(calls: list[ServiceCall], count: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while len(calls) < count:
        assert time.monotonic() < deadline, f"expected {count} notify call(s), got {len(calls)}"
        await asyncio.sleep(0.02)


async def _frigate_hub(
    hass: HomeAssistant,
    broker: MosquittoBroker,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    **kw: Any,
) -> tuple[MockConfigEntry, list[ServiceCall]]:
    calls = async_mock_service(hass, "notify", "phone")
    entry = await setup_hub(
        [frigate_subentry(frigate, **kw)],
        notify_services=["notify.phone"],
        persistent_notification=False,
    )
    await broker.async_wait_for_subscription("frigate/events")
    return entry, calls


async def test_frigates_new_alerts_at_once_and_the_clip_updates_the_same_notification(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    mqtt_with_broker: MockConfigEntry,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    # Given a Frigate camera alerting a phone (trigger class person, live alerts on)
    entry, calls = await _frigate_hub(hass, mosquitto_broker, setup_hub, frigate)
    live = EventWaiter(hass, EVENT_LIVE_DETECTION)
    processed = EventWaiter(hass)

    # When Frigate publishes `new` for a person
    await mosquitto_broker.async_publish("frigate/events", event_message("new", end_time=None))
    detected = (await live.wait(1))[0].data
    await _calls(calls, 1)

    # Then the phone is alerted before any clip exists, tagged with the Frigate event
    assert (detected["label"], detected["event_key"], detected["alert"]) == (
        "person",
        EVENT_ID,
        True,
    )
    assert processed.events == []
    activity = hass.states.get("event.front_door_activity")
    assert activity is not None
    assert activity.attributes["event_type"] == "live_detection"
    assert await entry.runtime_data.store.get_state(f"frigate-{EVENT_ID}") is None
    assert frigate.paths("clip.mp4") == []
    first = calls[0].data["data"]
    assert first["tag"] == TAG
    assert "alert_once" not in first
    # ... its image is a signed link to Frigate's snapshot, opened without a login
    image = URL(first["image"])
    assert image.path == f"/api/homesec_nvr/clips/{EVENT_ID}/live"
    assert {"exp", "sig"} <= set(image.query)
    assert detected["snapshot_url"] == first["image"]
    assert frigate.paths("snapshot.jpg") == []  # nothing fetched until the link is opened
    client = await hass_client_no_auth()
    answer = await client.get(image.path_qs)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert await answer.read() == SNAPSHOT_JPEG
    assert frigate.queries(f"/api/events/{EVENT_ID}/snapshot.jpg") == [{"bbox": "1"}]

    # When Frigate updates the person twice and ends it, and the clip is processed
    for kind in ("update", "update"):
        await mosquitto_broker.async_publish("frigate/events", event_message(kind, end_time=None))
    await mosquitto_broker.async_publish("frigate/events", event_message("end"))
    payload = (await processed.wait(1, timeout=20))[0].data
    await _calls(calls, 2)
    await hass.async_block_till_done()

    # Then there was one live detection; the clip's alert replaced the live one quietly
    assert len(live.events) == 1
    assert payload["clip_id"] == f"frigate-{EVENT_ID}"
    assert payload["metadata"]["event_key"] == EVENT_ID
    assert len(calls) == 2
    follow_up = calls[1].data["data"]
    assert follow_up["tag"] == TAG
    assert follow_up["alert_once"] is True
    assert "/api/homesec_nvr/clips/frigate-" in follow_up["image"]
    live.close()
    processed.close()


async def test_a_label_that_is_not_a_trigger_class_is_reported_but_not_alerted(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    mqtt_with_broker: MockConfigEntry,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
) -> None:
    # Given a Frigate subentry taking people and cars, trigger classes [person]
    _entry, calls = await _frigate_hub(
        hass, mosquitto_broker, setup_hub, frigate, labels=["person", "car"]
    )
    live = EventWaiter(hass, EVENT_LIVE_DETECTION)

    # When Frigate publishes `new` and an update for a car
    for kind in ("new", "update"):
        await mosquitto_broker.async_publish(
            "frigate/events", event_message(kind, end_time=None, label="car")
        )
    detected = (await live.wait(1))[0].data
    await hass.async_block_till_done(wait_background_tasks=True)

    # Then it is a live detection without an alert, and the phone was not called
    assert (detected["label"], detected["alert"]) == ("car", False)
    assert "not a trigger class" in detected["reason"]
    assert len(live.events) == 1
    assert calls == []
    live.close()


async def test_an_event_found_by_catch_up_alerts_only_through_its_clip(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    mqtt_with_broker: MockConfigEntry,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
) -> None:
    # Given a person that came and went while Home Assistant was down (in Frigate's API)
    record = ended(20)
    frigate.add_event(record["id"], frigate.events[EVENT_ID].clip, record=record)
    live = EventWaiter(hass, EVENT_LIVE_DETECTION)
    processed = EventWaiter(hass)

    # When HomeSec starts and catches up on it
    _entry, calls = await _frigate_hub(hass, mosquitto_broker, setup_hub, frigate)
    payload = (await processed.wait(1, timeout=20))[0].data
    await _calls(calls, 1)
    await hass.async_block_till_done(wait_background_tasks=True)

    # Then the clip alerted once, as an ordinary alert, and nothing was reported live
    assert payload["clip_id"] == f"frigate-{record['id']}"
    assert live.events == []
    assert len(calls) == 1
    assert calls[0].data["data"]["tag"] == f"homesec_{record['id']}"
    assert "alert_once" not in calls[0].data["data"]
    live.close()
    processed.close()
