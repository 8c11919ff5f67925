"""Base entities: one device per camera, one per camera-kind subentry (e.g. a Frigate
server), all under one hub device."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN, MANUFACTURER
from .core.models import ClipState
from .runtime import CameraRuntime, HubRuntime

# HA 2026 links a device to its parent by the parent's device id (`via_device_id`); 2025 only
# by the parent's identifier (`via_device`, deprecated in 2026, removed in 2027.8).
_LINK_BY_DEVICE_ID = "via_device_id" in DeviceInfo.__optional_keys__


def device_under_hub(hub: HubRuntime, identifier: str, **fields: Any) -> DeviceInfo:
    """A device (camera or Frigate server) shown under the hub device."""
    link: dict[str, Any] = (
        {"via_device_id": hub.device_id}
        if _LINK_BY_DEVICE_ID
        else {"via_device": (DOMAIN, hub.entry.entry_id)}
    )
    return cast(DeviceInfo, {"identifiers": {(DOMAIN, identifier)}, **fields, **link})


def hub_device_info(hub: HubRuntime) -> DeviceInfo:
    """The hub device."""
    return DeviceInfo(
        identifiers={(DOMAIN, hub.entry.entry_id)},
        name="HomeSec",
        manufacturer=MANUFACTURER,
        model="Clip pipeline",
        sw_version=hub.sw_version,
    )


@callback
def async_add_camera_entities(
    hub: HubRuntime,
    async_add_entities: AddConfigEntryEntitiesCallback,
    build: Callable[[CameraRuntime], Iterable[Entity]],
) -> None:
    """Add a platform's entities for every camera now, and for cameras that appear later."""

    @callback
    def add(camera: CameraRuntime) -> None:
        async_add_entities(build(camera), config_subentry_id=camera.subentry_id)

    for camera in hub.cameras.values():
        add(camera)
    hub.entry.async_on_unload(hub.add_camera_listener(add))


class HomeSecCameraEntity(Entity):
    """An entity of one camera; updated by the pipeline (push, no polling).

    Unavailable while the camera's source is down (its kind's `available`), except
    entities that report the source's health themselves (`_reports_health`).
    """

    _attr_has_entity_name = True
    _attr_should_poll = False
    # Shows the source's live state (motion, connection): refreshed on every status change.
    _live = False
    # Reports the source's health, so it stays available while the source is down.
    _reports_health = False

    def __init__(self, hub: HubRuntime, camera: CameraRuntime, key: str) -> None:
        self.hub = hub
        self.camera = camera
        self._attr_unique_id = f"{camera.camera_id}_{key}"
        self._attr_device_info = device_under_hub(
            hub,
            camera.camera_id,
            name=camera.name,
            manufacturer=MANUFACTURER,
            model=camera.source_type.replace("_", " ").capitalize() + " camera",
        )

    @property
    def available(self) -> bool:
        """False while the camera's source is down."""
        return self._reports_health or self.camera.is_available()

    async def async_added_to_hass(self) -> None:
        """Follow the camera's updates and its source's status."""
        await super().async_added_to_hass()
        self.async_on_remove(self.camera.add_listener(self._handle_camera_update))
        self.async_on_remove(self.camera.add_status_listener(self._handle_status_update))

    def _handle_camera_update(self, stage: str, state: ClipState) -> None:
        """Refresh from the camera state; subclasses may react to the stage."""
        self.async_write_ha_state()

    @callback
    def _handle_status_update(self) -> None:
        """The source's status changed: refresh live entities, and the others when their
        availability changed."""
        if self._live:
            self.async_write_ha_state()
            return
        shown = self.hass.states.get(self.entity_id)
        if shown is None or (shown.state == STATE_UNAVAILABLE) == self.available:
            self.async_write_ha_state()


class HomeSecHubEntity(Entity):
    """An entity of the hub device."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, hub: HubRuntime, key: str) -> None:
        self.hub = hub
        self._attr_unique_id = f"{hub.entry.entry_id}_{key}"
        self._attr_device_info = hub_device_info(hub)

    async def async_added_to_hass(self) -> None:
        """Follow the pipeline's counters."""
        await super().async_added_to_hass()
        self.async_on_remove(self.hub.add_hub_listener(self.async_write_ha_state))
