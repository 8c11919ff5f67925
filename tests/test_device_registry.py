"""Devices: cameras under the hub device, stale devices dropped (without the device registry
APIs HA 2026 deprecates: `via_device`, `remove_config_entry_id`), and which devices the user may
delete."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.homesec_nvr.const import DOMAIN

from .conftest import SetupHub, camera_subentry
from .helpers import delete_device, find_device


async def test_camera_devices_are_linked_to_the_hub_device(
    hass: HomeAssistant, setup_hub: SetupHub, caplog: pytest.LogCaptureFixture
) -> None:
    # Given nothing logged yet
    caplog.set_level(logging.WARNING)

    # When a hub with one camera is set up
    entry = await setup_hub()

    # Then the camera's device is shown under the hub device
    (subentry_id,) = entry.subentries
    hub_device = find_device(hass, entry.entry_id, entry.entry_id)
    camera_device = find_device(hass, entry.entry_id, subentry_id)
    assert hub_device is not None
    assert camera_device is not None
    assert camera_device.via_device_id == hub_device.id
    assert entry.runtime_data.device_id == hub_device.id
    # and Home Assistant reported no deprecated device info
    assert "via_device" not in caplog.text


async def test_device_of_a_camera_that_is_gone_is_removed_at_setup(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a hub whose registry still holds the device of a camera that no longer exists
    caplog.set_level(logging.WARNING)
    entry = await setup_hub([camera_subentry("Front door", incoming)])
    registry = dr.async_get(hass)
    registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "camera-removed-long-ago")}
    )
    assert find_device(hass, entry.entry_id, "camera-removed-long-ago") is not None

    # When the hub is set up again
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    # Then that device is gone, the hub and the configured camera keep theirs
    (subentry_id,) = entry.subentries
    assert find_device(hass, entry.entry_id, "camera-removed-long-ago") is None
    assert find_device(hass, entry.entry_id, entry.entry_id) is not None
    assert find_device(hass, entry.entry_id, subentry_id) is not None
    # and no deprecated device registry call was reported
    assert "remove_config_entry_id" not in caplog.text


async def test_hub_and_configured_camera_devices_cannot_be_deleted(
    hass: HomeAssistant, setup_hub: SetupHub, hass_ws_client: WebSocketGenerator
) -> None:
    # Given a hub with one configured camera
    entry = await setup_hub()
    (subentry_id,) = entry.subentries
    hub_device = find_device(hass, entry.entry_id, entry.entry_id)
    camera_device = find_device(hass, entry.entry_id, subentry_id)
    assert hub_device is not None
    assert camera_device is not None

    # When the user tries to delete the hub's device and the camera's device
    hub_deleted = await delete_device(hass, hass_ws_client, entry.entry_id, hub_device.id)
    camera_deleted = await delete_device(hass, hass_ws_client, entry.entry_id, camera_device.id)

    # Then HomeSec refuses both, and both devices stay
    assert hub_deleted is False
    assert camera_deleted is False
    assert find_device(hass, entry.entry_id, entry.entry_id) is not None
    assert find_device(hass, entry.entry_id, subentry_id) is not None


async def test_device_of_a_camera_that_is_gone_can_be_deleted(
    hass: HomeAssistant, setup_hub: SetupHub, hass_ws_client: WebSocketGenerator
) -> None:
    # Given a running hub and the device of a camera whose subentry no longer exists
    entry = await setup_hub()
    stale = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "removed-subentry:garage")}
    )

    # When the user deletes that device
    deleted = await delete_device(hass, hass_ws_client, entry.entry_id, stale.id)

    # Then HomeSec allows it and the device is gone
    assert deleted is True
    assert find_device(hass, entry.entry_id, "removed-subentry:garage") is None


async def test_stale_device_can_be_deleted_while_the_hub_is_not_loaded(
    hass: HomeAssistant, setup_hub: SetupHub, hass_ws_client: WebSocketGenerator
) -> None:
    # Given an unloaded hub whose registry still holds a device of a removed camera
    entry = await setup_hub()
    stale = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "removed-subentry")}
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    # When the user deletes that device
    deleted = await delete_device(hass, hass_ws_client, entry.entry_id, stale.id)

    # Then HomeSec allows it (nothing is running to forget it in)
    assert deleted is True
    assert find_device(hass, entry.entry_id, "removed-subentry") is None
