"""Unloading the hub leaves nothing of the new features running: the RTSP camera's live
detection thread, the off-site copier's task and its Dropbox worker thread are gone once
async_unload returns (not only by the end of the test)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from .conftest import SetupHub
from .core.dropbox_server import DropboxServer
from .core.rtsp_fixture import RtspServer
from .helpers import process_clip
from .test_live_alerts_rtsp import onnx_camera_with_a_phone, person_model  # noqa: F401
from .test_offsite_dropbox import OFFSITE, _signed_in, _until, dropbox  # noqa: F401
from .test_rtsp_setup import rtsp, scene  # noqa: F401  (fixtures)


def _homesec_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("homesec")]


def _homesec_tasks() -> list[str]:
    return [
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name().startswith("homesec") and not task.done()
    ]


async def test_unloading_stops_the_live_detection_thread(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    rtsp: RtspServer,  # noqa: F811
    person_model: Path,  # noqa: F811
    socket_enabled: None,
) -> None:
    # Given an RTSP camera whose live detection has looked at frames (its thread runs)
    _calls, live_events, processed = await onnx_camera_with_a_phone(
        hass, setup_hub, rtsp, person_model
    )
    await live_events.wait(1, timeout=40)
    assert any(name.startswith("homesec-live-") for name in _homesec_threads())
    live_events.close()
    processed.close()
    (entry,) = hass.config_entries.async_entries("homesec_nvr")

    # When the hub is unloaded
    assert await hass.config_entries.async_unload(entry.entry_id)

    # Then no HomeSec thread or task is left running
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert _homesec_threads() == []
    assert _homesec_tasks() == []


async def test_unloading_stops_the_offsite_copier_and_its_dropbox_thread(
    hass: HomeAssistant,
    dropbox: DropboxServer,  # noqa: F811
    setup_hub: SetupHub,
    incoming: Path,
) -> None:
    # Given a hub signed in to Dropbox that has copied a clip (the SDK's thread runs)
    entry = await setup_hub(entry_data=_signed_in(dropbox), **OFFSITE)
    await process_clip(hass, incoming / "door.mp4")
    await _until(lambda: any(k.endswith(".mp4") for k in dropbox.files))
    assert "homesec-dropbox_0" in _homesec_threads()
    assert "homesec offsite copy" in _homesec_tasks()

    # When the hub is unloaded
    assert await hass.config_entries.async_unload(entry.entry_id)

    # Then the copier's task and the Dropbox worker thread are gone
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert _homesec_tasks() == []
    assert _homesec_threads() == []


@pytest.fixture(autouse=True)
def _no_leftovers_before() -> None:
    """Other tests' threads must not be counted as this test's."""
    assert _homesec_threads() == []


async def test_a_part_that_fails_to_stop_does_not_leave_the_others_running(
    hass: HomeAssistant, setup_hub: SetupHub, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a running hub whose watched-folder camera fails while stopping (a bug)
    entry = await setup_hub()
    hub = entry.runtime_data
    (kind,) = hub.kinds.values()

    async def broken_stop() -> None:
        raise RuntimeError("stop bug")

    kind.async_stop = broken_stop  # type: ignore[method-assign]

    # When the hub is unloaded
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    # Then the failure is logged, and the pipeline, the store and every thread are stopped
    assert "Stopping HomeSec's camera Front door failed" in caplog.text
    assert hub.store._conn is None
    assert _homesec_threads() == []
    assert _homesec_tasks() == []
