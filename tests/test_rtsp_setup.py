"""RTSP cameras in Home Assistant, against a real RTSP server (GStreamer) on loopback."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.camera import Camera
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import setup_test_component_platform

from custom_components.homesec_nvr.const import SUBENTRY_RTSP

from .conftest import SetupHub
from .core.rtsp_fixture import RtspServer
from .core.video import ClipSpec, write_h264_clip
from .helpers import EventWaiter, enable_entities, start_subentry_reconfigure, wait_for_state

USER = "admin"
PASSWORD = "pa:ss@word"


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Still, then an object crossing from 2 s to 3.5 s, then still (160x96, 10 fps)."""
    folder = tmp_path_factory.mktemp("rtsp-scene")
    spec = ClipSpec(
        width=160,
        height=96,
        fps=10,
        seconds=8.0,
        gop_seconds=1,
        object_box=(10 - 120, 32, 10 - 120 + 32, 64),
        object_speed=60,
        object_from_s=2.0,
        object_until_s=3.5,
        noise=4,
    )
    return write_h264_clip(folder / "scene.mp4", spec)


@pytest.fixture
def rtsp(scene: Path) -> Iterator[RtspServer]:
    """A password-protected RTSP server serving the scene at /cam."""
    server = RtspServer(files={"/cam": scene}, user=USER, password=PASSWORD).start()
    yield server
    server.stop()


def rtsp_subentry(server: RtspServer, **extra: Any) -> ConfigSubentryData:
    """An RTSP camera as the flow stores it (short rolls for a quick test)."""
    return ConfigSubentryData(
        data={
            "name": "Driveway",
            "stream_url": server.url("/cam"),
            "username": USER,
            "password": PASSWORD,
            "detect_fps": 5,
            "detect_width": 160,
            "motion_threshold": 25,
            "min_area_percent": 0.5,
            "pre_roll_s": 1,
            "post_roll_s": 1,
            "max_clip_s": 30,
            "min_clip_s": 0.5,
            **extra,
        },
        subentry_type=SUBENTRY_RTSP,
        title="Driveway",
        unique_id=server.url("/cam"),
    )


async def test_motion_on_the_stream_becomes_a_processed_clip(
    hass: HomeAssistant, setup_hub: SetupHub, rtsp: RtspServer, socket_enabled: None
) -> None:
    # Given an RTSP camera, and a record of its motion sensor's states
    motion_states: list[str] = []

    @callback
    def _track(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] == "binary_sensor.driveway_motion" and event.data["new_state"]:
            motion_states.append(event.data["new_state"].state)

    hass.bus.async_listen("state_changed", _track)
    processed = EventWaiter(hass)
    entry = await setup_hub([rtsp_subentry(rtsp)])

    # When something moves in front of the camera
    payload = (await processed.wait(1, timeout=30))[0].data
    await hass.async_block_till_done()

    # Then the recorded clip went through the pipeline and is stored
    assert payload["camera"] == "Driveway"
    assert payload["source"] == "rtsp"
    assert payload["status"] == "done"
    assert payload["media_url"] is not None
    assert payload["metadata"]["duration_s"] >= 1.5
    # and the motion sensor followed the motion, the stream is connected
    assert "on" in motion_states
    assert hass.states.get("binary_sensor.driveway_stream_connected").state == "on"
    # (the last-frame time is a diagnostic most users never look at: off by default)
    last_frame = er.async_get(hass).async_get("sensor.driveway_last_frame")
    assert last_frame is not None
    assert last_frame.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    # and the recorded file was removed from HomeSec's work folder once stored
    state = await entry.runtime_data.store.get_state(payload["clip_id"])
    assert state is not None
    assert not await hass.async_add_executor_job(Path(state.source_path).exists)
    processed.close()


async def test_camera_flow_opens_the_stream_to_check_it(
    hass: HomeAssistant, setup_hub: SetupHub, rtsp: RtspServer, socket_enabled: None
) -> None:
    # Given a running hub
    entry = await setup_hub([])
    form = {
        "name": "Porch",
        "stream_url": rtsp.url("/cam"),
        "username": USER,
        "min_risk_level": "inherit",
        "notify_on_motion": "inherit",
        "vlm_run_mode": "inherit",
        "filter": "none",
    }
    cases = [
        ({"password": "wrong"}, "auth_failed"),
        ({"password": PASSWORD, "stream_url": rtsp.url("/nope")}, "cannot_connect"),
        ({"password": PASSWORD, "stream_url": ""}, "stream_required"),
    ]
    for change, error in cases:
        # When the camera cannot be opened as entered
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_RTSP), context={"source": "user"}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {**form, **change}
        )
        # Then the form says why
        assert result["errors"] == {"base": error}, change

    # And with the right password the camera is created, its password kept out of the URL
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RTSP), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**form, "password": PASSWORD, "motion": {"masks": "0,0,100,10"}}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = entry.subentries.values()
    assert subentry.data["masks"] == "0,0,100,10"
    assert PASSWORD not in str(subentry.unique_id)


class StreamCamera(Camera):
    """A Home Assistant camera entity whose stream is the test server's."""

    _attr_name = "Garden cam"

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url

    async def stream_source(self) -> str:
        return self._url


async def test_a_home_assistant_camera_entity_can_be_the_stream(
    hass: HomeAssistant, setup_hub: SetupHub, rtsp: RtspServer, socket_enabled: None
) -> None:
    # Given a camera entity in Home Assistant that streams from the server
    setup_test_component_platform(
        hass, "camera", [StreamCamera(rtsp.url("/cam", user=USER, password=PASSWORD))]
    )
    assert await async_setup_component(hass, "camera", {"camera": {"platform": "test"}})
    await hass.async_block_till_done()
    entry = await setup_hub([])

    # When the user picks it instead of entering a URL
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RTSP), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Garden",
            "camera_entity": "camera.garden_cam",
            "min_risk_level": "inherit",
            "notify_on_motion": "inherit",
            "vlm_run_mode": "inherit",
            "filter": "none",
        },
    )
    await hass.async_block_till_done()

    # Then the camera is created from the entity's stream and records its motion
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = entry.subentries.values()
    assert subentry.unique_id == "camera.garden_cam"
    processed = EventWaiter(hass)
    payload = (await processed.wait(1, timeout=30))[0].data
    assert payload["camera"] == "Garden"
    processed.close()


async def test_recordings_left_by_a_previous_run_are_processed(
    hass: HomeAssistant, setup_hub: SetupHub, config_dir: Path, rtsp: RtspServer, scene: Path
) -> None:
    # Given a recording that the last run finished but could not hand over
    leftover = config_dir / "homesec" / "rtsp_clips" / "rtsp-cam-1" / "driveway-20261121T1200Z.mp4"
    await hass.async_add_executor_job(lambda: leftover.parent.mkdir(parents=True))
    await hass.async_add_executor_job(shutil.copyfile, scene, leftover)
    processed = EventWaiter(hass)

    # When HomeSec starts with that camera
    subentry = rtsp_subentry(rtsp)
    subentry["subentry_id"] = "rtsp-cam-1"  # type: ignore[typeddict-unknown-key]
    await setup_hub([subentry])

    # Then the recording is processed like any other clip (then removed from the work folder)
    events = await processed.wait(1, timeout=30)
    recovered = [e.data for e in events if e.data["clip_id"] == "driveway-20261121T1200Z"]
    assert recovered
    assert recovered[0]["metadata"]["recovered"] is True
    # (the source file is removed right after the clip is finished: give it a moment)
    for _ in range(100):
        if not await hass.async_add_executor_job(leftover.exists):
            break
        await asyncio.sleep(0.05)
    assert not await hass.async_add_executor_job(leftover.exists)
    processed.close()


# Entities of an RTSP camera that show what its stream delivered (unavailable while it is down).
RTSP_CAMERA_ENTITIES = (
    "binary_sensor.driveway_motion",
    "binary_sensor.driveway_alert",
    "sensor.driveway_last_summary",
    "sensor.driveway_clips_today",
    "event.driveway_activity",
    "image.driveway_snapshot",
)


async def test_camera_entities_are_unavailable_while_the_stream_is_down(
    hass: HomeAssistant, setup_hub: SetupHub, rtsp: RtspServer, socket_enabled: None
) -> None:
    # Given an RTSP camera whose stream is connected (with its last-frame sensor enabled)
    entry = await setup_hub([rtsp_subentry(rtsp)])
    await enable_entities(hass, entry, "sensor.driveway_last_frame")
    await wait_for_state(hass, "binary_sensor.driveway_stream_connected", "on")
    assert hass.states.get("sensor.driveway_last_frame").state not in ("unknown", "unavailable")
    assert all(hass.states.get(e).state != STATE_UNAVAILABLE for e in RTSP_CAMERA_ENTITIES)

    # When the camera goes away
    rtsp.stop()

    # Then its entities are unavailable; the connectivity sensor stays available and says off
    await wait_for_state(hass, "binary_sensor.driveway_stream_connected", "off")
    assert [e for e in RTSP_CAMERA_ENTITIES if hass.states.get(e).state != STATE_UNAVAILABLE] == []
    assert hass.states.get("sensor.driveway_last_frame").state != STATE_UNAVAILABLE

    # And once the camera is back (same address), so are its entities
    rtsp.start()
    await wait_for_state(hass, "binary_sensor.driveway_stream_connected", "on", timeout=30)
    assert all(hass.states.get(e).state != STATE_UNAVAILABLE for e in RTSP_CAMERA_ENTITIES)


async def test_camera_entities_are_unavailable_when_the_stream_cannot_start(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given an RTSP camera built on a Home Assistant camera entity that does not exist
    subentry = ConfigSubentryData(
        data={"name": "Driveway", "camera_entity": "camera.gone"},
        subentry_type=SUBENTRY_RTSP,
        title="Driveway",
        unique_id="camera.gone",
    )

    # When the hub starts (the camera's source gives up: it has no stream)
    await setup_hub([subentry])

    # Then the camera's entities are unavailable, its connectivity sensor says off
    assert [e for e in RTSP_CAMERA_ENTITIES if hass.states.get(e).state != STATE_UNAVAILABLE] == []
    assert hass.states.get("binary_sensor.driveway_stream_connected").state == "off"


async def test_reconfigure_renames_the_camera_after_opening_its_stream(
    hass: HomeAssistant, setup_hub: SetupHub, rtsp: RtspServer, socket_enabled: None
) -> None:
    # Given an RTSP camera "Driveway"
    entry = await setup_hub([rtsp_subentry(rtsp)])
    (subentry_id,) = entry.subentries

    # When the user reconfigures it as "Carport" with a longer post-roll
    result = await start_subentry_reconfigure(hass, entry, subentry_id)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Carport",
            "stream_url": rtsp.url("/cam"),
            "username": USER,
            "password": PASSWORD,
            "motion": {"post_roll_s": 4},
            "min_risk_level": "inherit",
            "notify_on_motion": "inherit",
            "vlm_run_mode": "inherit",
            "filter": "none",
        },
    )
    await hass.async_block_till_done()

    # Then the same subentry holds the new name and roll, and the hub runs with them
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[subentry_id]
    assert subentry.title == "Carport"
    assert subentry.data["post_roll_s"] == 4
    assert subentry.unique_id == rtsp.url("/cam")
    assert entry.runtime_data.cameras[subentry_id].name == "Carport"
