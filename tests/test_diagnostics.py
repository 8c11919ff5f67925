"""Diagnostics of the hub config entry and of each camera device, after a real clip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.homesec_nvr.config_flow import default_options
from custom_components.homesec_nvr.const import CONF_LINK_SECRET, CONF_STORAGE_PATH
from custom_components.homesec_nvr.core.store import SCHEMA_VERSION

from .conftest import SetupHub, camera_subentry
from .helpers import EventWaiter, find_device
from .video import write_clip

REDACTED = "**REDACTED**"
SECRET_OPTIONS = {"api_key": "sk-very-secret", "password": "hunter2"}
RTSP_URL = "rtsp://admin:hunter2@192.0.2.10/stream"


async def _hub_with_one_clip(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> tuple[MockConfigEntry, dict[str, Any]]:
    """A hub with secrets in its options and camera config, after one processed clip."""
    entry = await setup_hub(
        [camera_subentry("Front door", incoming, rtsp_url=RTSP_URL)],
        notify_on_motion=True,
        **SECRET_OPTIONS,
    )
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, incoming / "clip1.mp4")
    (event,) = await processed.wait(1)
    await hass.async_block_till_done()
    processed.close()
    return entry, event.data


async def test_config_entry_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    setup_hub: SetupHub,
    incoming: Path,
    config_dir: Path,
) -> None:
    # Given a hub with secrets in its options that has processed one clip
    entry, payload = await _hub_with_one_clip(hass, setup_hub, incoming)
    (subentry_id,) = entry.subentries

    # When the user downloads the config entry diagnostics
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    # Then the entry's secrets are redacted and everything else is shown
    assert diagnostics["entry"]["data"] == {
        CONF_STORAGE_PATH: str(config_dir / "media" / "homesec"),
        CONF_LINK_SECRET: REDACTED,
    }
    options = diagnostics["entry"]["options"]
    assert options["api_key"] == REDACTED
    assert options["password"] == REDACTED
    assert {k: v for k, v in options.items() if k not in SECRET_OPTIONS} == {
        **default_options(),
        "notify_on_motion": True,
    }
    # And the store and pipeline are described
    assert diagnostics["store"] == {
        "path": str(config_dir / "homesec" / "homesec.db"),
        "schema_version": SCHEMA_VERSION,
        "recoveries": [],
    }
    assert diagnostics["pipeline"] == {
        "clips_in_flight": 0,
        "clips_queued": 0,
        "clips_waiting_for_incident": 0,
        "last_error": None,
    }
    # And a healthy hub: no problem, the folder watcher running under supervision
    assert diagnostics["health"]["problems"] == []
    assert [t["name"] for t in diagnostics["health"]["tasks"]] == [
        "homesec folder watcher Front door"
    ]
    assert diagnostics["health"]["tasks"][0]["running"] is True
    # And the camera shows its redacted config, its source and the processed clip
    camera = diagnostics["cameras"][subentry_id]
    assert camera["name"] == "Front door"
    assert camera["source_type"] == "local_folder"
    assert camera["config"]["rtsp_url"] == REDACTED
    assert camera["config"]["folder"] == str(incoming)
    assert camera["source"]["folder"] == str(incoming)
    assert camera["source"]["healthy"] is True
    assert camera["source"]["clips_emitted"] == 1
    assert camera["clips_today"] == 1
    assert camera["alerts_today"] == 1
    (clip,) = camera["recent_clips"]
    assert clip["clip_id"] == payload["clip_id"]
    assert clip["status"] == "done"
    assert clip["risk_level"] is None
    assert clip["alert"]["notify"] is True
    assert clip["error"] is None
    # And no secret appears anywhere in the download
    text = str(diagnostics)
    assert "sk-very-secret" not in text
    assert "hunter2" not in text


async def test_camera_device_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    setup_hub: SetupHub,
    incoming: Path,
) -> None:
    # Given a hub that has processed one clip of the camera "Front door"
    entry, payload = await _hub_with_one_clip(hass, setup_hub, incoming)
    (subentry_id,) = entry.subentries
    device = find_device(hass, entry.entry_id, subentry_id)
    assert device is not None

    # When the user downloads the diagnostics of the camera device
    diagnostics = await get_diagnostics_for_device(hass, hass_client, entry, device)

    # Then they describe that camera only, with its secrets redacted
    assert diagnostics["name"] == "Front door"
    assert diagnostics["config"]["rtsp_url"] == REDACTED
    assert "hunter2" not in str(diagnostics)
    assert diagnostics["source"]["folder"] == str(incoming)
    assert [c["clip_id"] for c in diagnostics["recent_clips"]] == [payload["clip_id"]]
    assert diagnostics["recent_clips"][0]["status"] == "done"
    assert "cameras" not in diagnostics


async def test_hub_device_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    setup_hub: SetupHub,
    incoming: Path,
) -> None:
    # Given a hub that has processed one clip
    entry, payload = await _hub_with_one_clip(hass, setup_hub, incoming)
    device = find_device(hass, entry.entry_id, entry.entry_id)
    assert device is not None

    # When the user downloads the diagnostics of the hub device
    diagnostics = await get_diagnostics_for_device(hass, hass_client, entry, device)

    # Then they are the whole entry's diagnostics, secrets redacted
    assert diagnostics["entry"]["options"]["api_key"] == REDACTED
    assert diagnostics["store"]["schema_version"] == SCHEMA_VERSION
    (camera,) = diagnostics["cameras"].values()
    assert camera["recent_clips"][0]["clip_id"] == payload["clip_id"]
    assert camera["recent_clips"][0]["status"] == "done"


async def test_diagnostics_of_idle_camera(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    setup_hub: SetupHub,
    incoming: Path,
    tmp_path: Path,
) -> None:
    # Given two cameras, of which only "Front door" has recorded a clip
    garage = tmp_path / "garage"
    garage.mkdir()
    entry = await setup_hub(
        [camera_subentry("Front door", incoming), camera_subentry("Garage", garage)]
    )
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, incoming / "clip1.mp4")
    await processed.wait(1)
    await hass.async_block_till_done()
    processed.close()

    # When the user downloads the config entry diagnostics
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    # Then each camera lists only its own clips
    cameras = {c["name"]: c for c in diagnostics["cameras"].values()}
    assert len(cameras["Front door"]["recent_clips"]) == 1
    assert cameras["Garage"]["recent_clips"] == []
    assert cameras["Garage"]["clips_today"] == 0
    assert cameras["Garage"]["source"]["clips_emitted"] == 0
