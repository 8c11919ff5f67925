"""HomeSec: AI security for your cameras, inside Home Assistant."""

from __future__ import annotations

import logging
import secrets

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .cameras import CAMERA_KINDS
from .card import async_register_card
from .const import CONF_LINK_SECRET, DOMAIN
from .core.store import StoreError
from .entity import hub_device_info
from .hub import HomeSecConfigEntry, HomeSecHub
from .services import async_setup_services
from .subentry_changes import added_subentries
from .views import HomeSecClipView

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.CALENDAR,
    Platform.EVENT,
    Platform.IMAGE,
    Platform.SENSOR,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register HomeSec's service actions, the view that serves signed clip links and the
    timeline card."""
    async_setup_services(hass)
    hass.http.register_view(HomeSecClipView())
    await async_register_card(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: HomeSecConfigEntry) -> bool:
    """Start the pipeline, the entities and then the camera sources."""
    if CONF_LINK_SECRET not in entry.data:
        # Entries made before links were signed get their secret now (kept across restarts).
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_LINK_SECRET: secrets.token_hex(32)}
        )
    hub = HomeSecHub(hass, entry)
    try:
        await hub.async_start()
    except StoreError as err:
        await hub.store.close()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="store_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err
    entry.runtime_data = hub
    _remove_stale_devices(hass, entry)
    # The hub device exists before any camera device is linked to it.
    hub.device_id = (
        dr.async_get(hass)
        .async_get_or_create(config_entry_id=entry.entry_id, **hub_device_info(hub))
        .id
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    await hub.async_start_sources()
    entry.async_on_unload(entry.add_update_listener(_async_reload_on_change))

    async def _async_on_stop(_event: Event) -> None:
        # Home Assistant is shutting down: close the database cleanly; unfinished clips
        # resume at the next start.
        await hub.async_stop()

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_on_stop))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: HomeSecConfigEntry) -> bool:
    """Stop every task, watcher and thread."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_stop()
    return unloaded


async def _async_reload_on_change(hass: HomeAssistant, entry: HomeSecConfigEntry) -> None:
    """A camera was added: start it live. Options, data or cameras changed otherwise: reload
    so every part uses the new settings."""
    hub = entry.runtime_data
    if (added := added_subentries(hub.entry_snapshot, entry)) is not None:
        await hub.async_add_subentries(added)
        return
    await hass.config_entries.async_reload(entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, config_entry: HomeSecConfigEntry, device_entry: dr.DeviceEntry
) -> bool:
    """The user may delete the device of a camera that no longer exists; the hub's device,
    configured cameras' and Frigate servers' devices stay."""
    identifiers = [i for domain, i in device_entry.identifiers if domain == DOMAIN]
    for identifier in identifiers:
        if not _is_stale(config_entry, identifier) and not await _async_gone_at_source(
            hass, config_entry, identifier
        ):
            return False
    if config_entry.state is ConfigEntryState.LOADED:
        for identifier in identifiers:
            config_entry.runtime_data.async_forget_camera(identifier)
    return True


def _remove_stale_devices(hass: HomeAssistant, entry: HomeSecConfigEntry) -> None:
    """Drop devices of cameras that no longer exist."""
    registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if all(
            domain != DOMAIN or _is_stale(entry, identifier)
            for domain, identifier in device.identifiers
        ):
            _LOGGER.debug("Removing stale device %s", device.name)
            _async_remove_device(registry, device, entry.entry_id)


def _is_stale(entry: HomeSecConfigEntry, identifier: str) -> bool:
    """A device identifier whose camera no longer exists: its subentry was removed, or its
    camera kind no longer configures that camera."""
    owner = _owner(identifier)
    if owner == entry.entry_id:
        return False
    subentry = entry.subentries.get(owner)
    if subentry is None:
        return True
    kind = CAMERA_KINDS.get(subentry.subentry_type)
    return kind is None or not kind.configures(subentry, identifier)


async def _async_gone_at_source(
    hass: HomeAssistant, entry: HomeSecConfigEntry, identifier: str
) -> bool:
    """A configured camera its source says is gone (e.g. a Frigate camera no longer in
    Frigate, for a subentry that takes every camera)."""
    subentry = entry.subentries.get(_owner(identifier))
    kind = CAMERA_KINDS.get(subentry.subentry_type) if subentry is not None else None
    if subentry is None or kind is None:
        return False
    return await kind.async_camera_gone(hass, subentry, identifier)


def _async_remove_device(
    registry: dr.DeviceRegistry, device: dr.DeviceEntry, entry_id: str
) -> None:
    """Remove one of HomeSec's devices.

    HA 2026 devices belong to exactly one config entry (`config_entry_id`) and are removed
    with `async_remove_device`; HA 2025 devices may be shared, so HomeSec's entry is dropped
    from it (the registry deletes the device when no entry is left), the way 2025 wants it.
    """
    if hasattr(device, "config_entry_id"):
        registry.async_remove_device(device.id)
    else:
        registry.async_update_device(device.id, remove_config_entry_id=entry_id)


def _owner(identifier: str) -> str:
    """The hub or subentry a device identifier belongs to (`<subentry>:<camera>` for sources
    with several cameras per subentry)."""
    return identifier.split(":", 1)[0]
