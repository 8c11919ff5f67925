"""HomeSec running in Home Assistant: restart, unload, notifications, repairs, event loop."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant import block_async_io
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.homesec_nvr.const import DOMAIN
from custom_components.homesec_nvr.core.runner import CameraPipelineSettings
from custom_components.homesec_nvr.runtime import CameraRuntime

from .conftest import SetupHub, camera_subentry
from .helpers import EventWaiter, find_device
from .video import write_clip


class NotifyRecorder:
    """A real `notify.phone` service that records calls and can be held or fail."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.calls: list[dict[str, Any]] = []
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()
        hass.services.async_register("notify", "phone", self._handle)

    async def _handle(self, call: ServiceCall) -> None:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        self.calls.append(dict(call.data))


async def test_restart_mid_pipeline_completes_the_clip_once(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a phone notification that hangs while Home Assistant shuts HomeSec down
    phone = NotifyRecorder(hass)
    phone.gate = asyncio.Event()
    entry = await setup_hub(
        notify_on_motion=True, notify_services=["notify.phone"], persistent_notification=False
    )
    await hass.async_add_executor_job(write_clip, incoming / "night.mp4")
    async with asyncio.timeout(15):
        await phone.started.wait()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert phone.calls == []

    # When HomeSec starts again (the clip is still in the watched folder)
    phone.gate = None
    processed = EventWaiter(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    events = await processed.wait(1)
    await asyncio.sleep(1.0)  # several scans of the folder
    await hass.async_block_till_done()

    # Then the clip completed exactly once: one notification, one clip counted
    assert len(phone.calls) == 1
    assert len(processed.events) == 1
    assert events[0].data["status"] == "done"
    assert hass.states.get("sensor.front_door_clips_today").state == "1"
    kinds = [
        e.event_type.value for e in await entry.runtime_data.store.events(events[0].data["clip_id"])
    ]
    assert kinds.count("clip_recorded") == 1
    assert kinds.count("clip_resumed") == 1
    assert kinds.count("notification_sent") == 1
    processed.close()


async def test_notify_service_gets_message_and_snapshot(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a hub notifying notify.phone
    phone = NotifyRecorder(hass)
    await setup_hub(notify_on_motion=True, notify_services=["notify.phone"])
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "door.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the phone got the camera, what happened and the snapshot as the app expects
    assert len(phone.calls) == 1
    call = phone.calls[0]
    assert call["title"] == "HomeSec: Front door"
    assert call["message"].startswith("Front door at ")
    clip_id = payload["clip_id"]
    assert call["data"]["image"].startswith(f"/api/homesec_nvr/clips/{clip_id}/snapshot?exp=")
    assert call["data"]["url"].startswith(f"/api/homesec_nvr/clips/{clip_id}/clip?exp=")
    assert call["data"]["tag"] == f"homesec_{clip_id}"
    processed.close()


async def test_missing_notify_service_is_reported_not_retried(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a hub configured with a notify service that was removed since
    entry = await setup_hub(notify_on_motion=True, notify_services=["notify.old_phone"])
    processed = EventWaiter(hass)

    # When a clip alerts
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the failure is in the clip history and the hub's last-error sensor, without retries
    events = await entry.runtime_data.store.events(payload["clip_id"])
    failed = [e for e in events if e.event_type.value == "notification_failed"]
    assert [(e.attempt, e.will_retry) for e in failed] == [(1, False)]
    assert failed[0].error_message == "notify.old_phone does not exist"
    last_error = hass.states.get("sensor.homesec_last_error")
    assert "notify.old_phone does not exist" in last_error.state
    # and the persistent notification still went out
    assert any(e.data.get("notifier") == "persistent_notification" for e in events)
    processed.close()


async def test_unload_stops_everything_and_reload_works(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a running hub
    entry = await setup_hub()

    # When it is unloaded
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    # Then its entities are unavailable and a clip dropped now is not picked up
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("sensor.front_door_clips_today").state == STATE_UNAVAILABLE
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, incoming / "while_down.mp4")
    await asyncio.sleep(0.6)
    assert processed.events == []

    # And when it is set up again, the waiting clip is processed
    assert await hass.config_entries.async_setup(entry.entry_id)
    await processed.wait(1)
    assert hass.states.get("sensor.front_door_clips_today").state == "1"
    processed.close()


async def _until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_unreadable_folder_raises_and_clears_a_repair_issue(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a camera on a network share
    share = tmp_path / "share"
    share.mkdir()
    entry = await setup_hub([camera_subentry("Garage", share)])
    subentry_id = next(iter(entry.subentries))
    issue_id = f"folder_unreadable_{subentry_id}"

    # When the share disappears for longer than a health check (the watcher's scan saw it)
    source = entry.runtime_data.kinds[subentry_id].source
    await hass.async_add_executor_job(shutil.rmtree, share)
    await _until(lambda: not source.healthy)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()

    # Then a repair issue tells the user which camera and folder
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["camera"] == "Garage"
    assert issue.translation_placeholders["folder"] == str(share)

    # And when the share is back, the issue goes away
    await hass.async_add_executor_job(share.mkdir)
    await _until(lambda: source.healthy)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=62))
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


@pytest.fixture
def blocking_call_detection(disable_block_async_io: None) -> None:
    """Home Assistant's own detector of blocking calls in the event loop (undone after)."""
    block_async_io.enable()


async def test_pipeline_never_blocks_the_event_loop(
    hass: HomeAssistant,
    blocking_call_detection: None,
    setup_hub: SetupHub,
    incoming: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given Home Assistant's blocking-call detector is on
    await setup_hub()
    processed = EventWaiter(hass)

    # When a clip goes through the whole pipeline and the snapshot is fetched
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    await processed.wait(1)
    image = hass.data["image"].get_entity("image.front_door_snapshot")
    assert await image.async_image()

    # Then no blocking call was detected in the event loop
    assert "Detected blocking call" not in caplog.text
    assert "Caught blocking call" not in caplog.text
    processed.close()


async def test_corrupt_clip_is_kept_and_reported_without_traceback(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a hub with the pass-through filter
    entry = await setup_hub()
    processed = EventWaiter(hass)

    # When a camera uploads a file that is not a video at all
    await hass.async_add_executor_job((incoming / "broken.mp4").write_bytes, b"\x00garbage" * 500)
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the clip is still stored and alerted (nothing lost), without a snapshot,
    # and the log explains it without a traceback
    assert payload["status"] == "done"
    assert payload["media_url"] is not None
    assert payload["snapshot_url"] is None
    state = await entry.runtime_data.store.get_state(payload["clip_id"])
    assert state is not None
    assert state.metadata["duration_s"] is None
    assert "No snapshot for clip" in caplog.text
    assert "Traceback" not in caplog.text
    processed.close()


async def test_alert_sensor_turns_off_after_hold_and_counters_reset_at_midnight(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given an alert that just happened, with a 60 s hold
    await setup_hub(notify_on_motion=True, alert_hold_seconds=60)
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    await processed.wait(1)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.front_door_alert").state == "on"

    # When the hold time passes
    now = dt_util.utcnow()
    async_fire_time_changed(hass, now + timedelta(seconds=61))
    await hass.async_block_till_done()

    # Then the alert sensor is off again
    assert hass.states.get("binary_sensor.front_door_alert").state == "off"

    # And when local midnight passes, the daily counters start again from zero
    midnight = dt_util.start_of_local_day(dt_util.now() + timedelta(days=1))
    async_fire_time_changed(hass, midnight)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.front_door_clips_today").state == "0"
    assert hass.states.get("sensor.front_door_alerts_today").state == "0"
    processed.close()


async def test_hourly_retention_deletes_old_clips(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a stored clip and a storage limit smaller than it
    entry = await setup_hub(max_storage_gb=1e-9)
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    clip_id = (await processed.wait(1))[0].data["clip_id"]
    await hass.async_block_till_done()

    # When the hourly retention job runs
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=1, seconds=1))
    await hass.async_block_till_done()

    # Then the clip's files are gone and its state says deleted
    store = entry.runtime_data.store
    async with asyncio.timeout(10):
        while (state := await store.get_state(clip_id)) and state.status.value != "deleted":
            await asyncio.sleep(0.05)
    assert state is not None
    assert state.clip_uri is None
    processed.close()


async def test_cameras_that_appear_later_get_devices_and_entities(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub with one camera
    entry = await setup_hub()
    hub = entry.runtime_data
    subentry_id = next(iter(entry.subentries))

    # When a source reports a second camera under the same subentry (as Frigate does)
    hub.async_add_camera(
        CameraRuntime(
            camera_id=f"{subentry_id}:driveway",
            subentry_id=subentry_id,
            name="Driveway",
            source_type="frigate",
            config={},
            settings=CameraPipelineSettings(),
        )
    )
    await hass.async_block_till_done()

    # Then it has its own device and entities, which survive a reload (not stale)
    assert hass.states.get("sensor.driveway_clips_today").state == "0"
    assert hass.states.get("event.driveway_activity") is not None
    device = find_device(hass, entry.entry_id, f"{subentry_id}:driveway")
    assert device is not None
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert find_device(hass, entry.entry_id, f"{subentry_id}:driveway") is not None
