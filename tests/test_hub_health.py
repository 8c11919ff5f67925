"""The hub's set-up edge cases: unknown camera types, media links outside the media folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant

from .conftest import SetupHub, camera_subentry
from .helpers import EventWaiter
from .video import write_clip


async def test_a_camera_of_an_unknown_type_is_skipped_and_the_rest_runs(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a hub with a camera of a type this version does not know, and a folder camera
    unknown = ConfigSubentryData(
        data={"name": "Doorbell"}, subentry_type="doorbell", title="Doorbell", unique_id="db"
    )
    processed = EventWaiter(hass)

    # When it starts and a clip arrives at the folder camera
    entry = await setup_hub([unknown, camera_subentry("Front door", incoming)])
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data

    # Then the unknown camera is skipped with a warning naming it, the other one works
    assert "Camera Doorbell has unknown type doorbell: skipped" in caplog.text
    assert [c.name for c in entry.runtime_data.cameras.values()] == ["Front door"]
    assert payload["camera"] == "Front door"
    assert payload["status"] == "done"
    processed.close()


async def test_clips_get_links_under_the_media_folder_that_holds_them(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path, tmp_path: Path
) -> None:
    # Given two media folders, HomeSec storing into the second one
    recordings = tmp_path / "recordings"
    (recordings / "homesec").mkdir(parents=True)
    hass.config.media_dirs = {"local": str(config_dir / "media"), "nas": str(recordings)}
    processed = EventWaiter(hass)
    await setup_hub(entry_data={"storage_path": str(recordings / "homesec")})

    # When a clip is processed
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data

    # Then its media browser id points into the folder that holds it
    assert payload["media_url"].startswith("/api/homesec_nvr/clips/")
    assert payload["media_content_id"].startswith("media-source://media_source/nas/homesec/")
    processed.close()


async def test_clips_stored_outside_every_media_folder_have_links_but_no_media_browser_id(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given HomeSec storing outside Home Assistant's media folders
    (tmp_path / "elsewhere").mkdir()
    processed = EventWaiter(hass)
    entry = await setup_hub(entry_data={"storage_path": str(tmp_path / "elsewhere")})

    # When a clip is processed
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data

    # Then it is stored and its signed link serves it, but the media browser cannot show it
    assert payload["status"] == "done"
    assert payload["media_url"].startswith("/api/homesec_nvr/clips/")
    assert payload["media_content_id"] is None
    state = await entry.runtime_data.store.get_state(payload["clip_id"])
    assert state is not None
    assert state.clip_uri
    processed.close()


async def test_stopping_the_hub_twice_is_harmless(hass: HomeAssistant, setup_hub: SetupHub) -> None:
    # Given a running hub
    entry = await setup_hub()
    hub = entry.runtime_data

    # When it is stopped, then stopped again (e.g. unload after Home Assistant's stop)
    await hub.async_stop()
    await hub.async_stop()

    # Then its camera sources are gone and the entry still unloads cleanly
    assert all(c.source is None for c in hub.cameras.values())
    assert await hass.config_entries.async_unload(entry.entry_id)
