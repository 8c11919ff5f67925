"""A real clip dropped into a real folder travels the whole pipeline into HA."""

from __future__ import annotations

from pathlib import Path

from homeassistant.components import persistent_notification
from homeassistant.const import STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from custom_components.homesec_nvr.const import DOMAIN, EVENT_ALERT

from .conftest import SetupHub
from .helpers import EventWaiter
from .video import write_clip


async def test_clip_updates_entities_events_notification_and_history(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path
) -> None:
    # Given a hub with one watched-folder camera, no filter, no VLM, persistent notifications
    entry = await setup_hub(notify_on_motion=True)
    processed = EventWaiter(hass)
    alerts = EventWaiter(hass, EVENT_ALERT)
    assert hass.states.get("sensor.front_door_clips_today").state == "0"

    # When a camera writes a clip into the folder
    await hass.async_add_executor_job(write_clip, incoming / "clip1.mp4")
    events = await processed.wait(1)
    await hass.async_block_till_done()

    # Then the bus events carry the documented payload
    payload = events[0].data
    assert payload["camera"] == "Front door"
    assert payload["status"] == "done"
    assert payload["alert"] is True
    assert payload["reason"] == "notify_on_motion is on: every clip alerts"
    clip_id = payload["clip_id"]
    assert payload["media_url"].startswith(f"/api/homesec_nvr/clips/{clip_id}/clip?exp=")
    assert payload["snapshot_url"].startswith(f"/api/homesec_nvr/clips/{clip_id}/snapshot?")
    assert payload["media_content_id"].startswith(
        "media-source://media_source/local/homesec/front_door/"
    )
    assert (await alerts.wait(1))[0].data["clip_id"] == payload["clip_id"]

    # And the camera's entities show the clip
    assert hass.states.get("sensor.front_door_clips_today").state == "1"
    assert hass.states.get("sensor.front_door_alerts_today").state == "1"
    assert hass.states.get("binary_sensor.front_door_alert").state == STATE_ON
    assert hass.states.get("sensor.front_door_last_risk_level").state == STATE_UNKNOWN
    summary = hass.states.get("sensor.front_door_last_summary")
    assert summary.state == "vlm_not_configured"  # shown translated by the frontend
    assert summary.attributes["analysis_skipped_reason"] == "vlm_not_configured"
    event_state = hass.states.get("event.front_door_activity")
    assert event_state.attributes["event_type"] == "alert"
    assert event_state.attributes["clip_id"] == payload["clip_id"]
    image_state = hass.states.get("image.front_door_snapshot")
    assert image_state.state != STATE_UNKNOWN

    # And the clip and its snapshot are stored under the media folder
    stored = list((config_dir / "media" / "homesec" / "front_door").rglob("*.mp4"))
    assert len(stored) == 1
    assert stored[0].read_bytes() == (incoming / "clip1.mp4").read_bytes()

    # And a persistent notification was created
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    assert any("Front door" in n["title"] for n in notifications.values())

    # And the SQLite history holds the clip and every stage
    hub = entry.runtime_data
    state = await hub.store.get_state(payload["clip_id"])
    assert state is not None and state.status.value == "done"
    kinds = [e.event_type.value for e in await hub.store.events(payload["clip_id"])]
    assert kinds[0] == "clip_recorded"
    assert "upload_completed" in kinds and "filter_completed" in kinds
    assert "vlm_skipped" in kinds and "alert_decision_made" in kinds
    assert kinds.count("notification_sent") == 1

    # And there is a device per camera under the hub device
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert {d.name for d in devices} == {"HomeSec", "Front door"}
    entity = er.async_get(hass).async_get("sensor.front_door_clips_today")
    assert entity is not None and entity.config_subentry_id is not None
    assert entity.platform == DOMAIN
    processed.close()
    alerts.close()
