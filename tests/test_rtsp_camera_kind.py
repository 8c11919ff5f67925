"""RTSP cameras' repair issue and recovery, against a real RTSP server (GStreamer) on loopback."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    setup_test_component_platform,
)

from custom_components.homesec_nvr.cameras import rtsp as rtsp_cameras
from custom_components.homesec_nvr.const import DOMAIN, ISSUE_CAMERA_UNREACHABLE, SUBENTRY_RTSP

from .conftest import SetupHub
from .core.rtsp_fixture import RtspServer
from .helpers import EventWaiter, wait_for_state
from .test_rtsp_setup import (  # noqa: F401  (fixtures)
    StreamCamera,
    rtsp,
    rtsp_subentry,
    scene,
)


async def test_a_camera_entity_without_an_rtsp_stream_raises_the_unreachable_issue(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a Home Assistant camera entity whose stream is HTTP (MJPEG), not RTSP
    setup_test_component_platform(hass, "camera", [StreamCamera("http://192.0.2.1/video.mjpg")])
    assert await async_setup_component(hass, "camera", {"camera": {"platform": "test"}})
    await hass.async_block_till_done()
    subentry = ConfigSubentryData(
        data={"name": "Garden", "camera_entity": "camera.garden_cam"},
        subentry_type=SUBENTRY_RTSP,
        title="Garden",
        unique_id="camera.garden_cam",
    )

    # When the hub starts with an RTSP camera built on that entity
    entry = await setup_hub([subentry])

    # Then the camera does not start; a repair issue and its connectivity sensor say why
    (subentry_id,) = entry.subentries
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"{ISSUE_CAMERA_UNREACHABLE}_{subentry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {
        "camera": "Garden",
        "error": "camera.garden_cam has no RTSP stream source",
    }
    connected = hass.states.get("binary_sensor.garden_stream_connected")
    assert connected.state == "off"
    assert connected.attributes["last_error"] == "camera.garden_cam has no RTSP stream source"
    # and health checks keep the issue (there is no stream that could come back by itself)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue.issue_id) is not None


async def test_a_camera_unreachable_for_a_while_raises_and_clears_the_issue(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    rtsp: RtspServer,  # noqa: F811
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a connected RTSP camera (the issue's "for a while" shortened to one health check)
    monkeypatch.setattr(rtsp_cameras, "UNREACHABLE_ISSUE_AFTER", timedelta(0))
    entry = await setup_hub([rtsp_subentry(rtsp)])
    (subentry_id,) = entry.subentries
    issue_id = f"{ISSUE_CAMERA_UNREACHABLE}_{subentry_id}"
    await wait_for_state(hass, "binary_sensor.driveway_stream_connected", "on")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None

    # When the camera goes away and a health check runs
    rtsp.stop()
    await wait_for_state(hass, "binary_sensor.driveway_stream_connected", "off")
    deadline = asyncio.get_running_loop().time() + 20
    while entry.runtime_data.cameras[subentry_id].source.unreachable_since is None:
        assert asyncio.get_running_loop().time() < deadline, "never marked unreachable"
        await asyncio.sleep(0.05)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=62))
    await hass.async_block_till_done()

    # Then a repair issue names the camera
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["camera"] == "Driveway"

    # And once the camera is back, the next health check clears it
    rtsp.start()
    await wait_for_state(hass, "binary_sensor.driveway_stream_connected", "on", timeout=30)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=93))
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_a_leftover_recording_already_stored_is_not_processed_twice(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    config_dir: Path,
    scene: Path,  # noqa: F811
) -> None:
    # Given a leftover recording that a previous run processed and stored
    leftover = config_dir / "homesec" / "rtsp_clips" / "rtsp-cam-1" / "porch-20261121T1200Z.mp4"
    await hass.async_add_executor_job(lambda: leftover.parent.mkdir(parents=True))
    await hass.async_add_executor_job(shutil.copyfile, scene, leftover)
    subentry = ConfigSubentryData(
        data={"name": "Porch", "stream_url": "rtsp://127.0.0.1:9/none"},
        subentry_type=SUBENTRY_RTSP,
        title="Porch",
        unique_id="rtsp://127.0.0.1:9/none",
    )
    subentry["subentry_id"] = "rtsp-cam-1"  # type: ignore[typeddict-unknown-key]
    processed = EventWaiter(hass)
    entry = await setup_hub([subentry])
    await processed.wait(1, timeout=30)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # (and the same file is found in the work folder again, e.g. restored from a backup)
    await hass.async_add_executor_job(shutil.copyfile, scene, leftover)

    # When HomeSec starts again
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await asyncio.sleep(1.0)
    await hass.async_block_till_done()

    # Then the recording is not processed a second time: the store knows it once
    assert [e.data["clip_id"] for e in processed.events] == ["porch-20261121T1200Z"]
    state = await entry.runtime_data.store.get_state("porch-20261121T1200Z")
    assert state is not None
    assert state.status.value == "done"
    processed.close()


async def test_a_short_outage_raises_no_repair_issue(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    rtsp: RtspServer,  # noqa: F811
    socket_enabled: None,
) -> None:
    # Given a connected RTSP camera
    entry = await setup_hub([rtsp_subentry(rtsp)])
    (subentry_id,) = entry.subentries
    await wait_for_state(hass, "binary_sensor.driveway_stream_connected", "on")

    # When the camera goes away for less than five minutes and a health check runs
    rtsp.stop()
    deadline = asyncio.get_running_loop().time() + 20
    while entry.runtime_data.cameras[subentry_id].source.unreachable_since is None:
        assert asyncio.get_running_loop().time() < deadline, "never marked unreachable"
        await asyncio.sleep(0.05)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()

    # Then it shows as disconnected, but no repair issue is raised yet
    await wait_for_state(hass, "binary_sensor.driveway_stream_connected", "off")
    issue_id = f"{ISSUE_CAMERA_UNREACHABLE}_{subentry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
