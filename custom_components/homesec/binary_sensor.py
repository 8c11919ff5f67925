"""The per-camera `alert` binary_sensor: on for a while after each alert."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import HomeSecCameraEntity, async_add_camera_entities
from .hub import CameraRuntime, HomeSecConfigEntry, HomeSecHub

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeSecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One alert binary_sensor per camera."""
    hub = entry.runtime_data
    async_add_camera_entities(
        hub, async_add_entities, lambda camera: [HomeSecAlertBinarySensor(hub, camera)]
    )


class HomeSecAlertBinarySensor(HomeSecCameraEntity, BinarySensorEntity):
    """On while an alert is recent (the hold time is a hub option)."""

    _attr_translation_key = "alert"
    _attr_device_class = BinarySensorDeviceClass.SAFETY

    def __init__(self, hub: HomeSecHub, camera: CameraRuntime) -> None:
        super().__init__(hub, camera, "alert")

    @property
    def is_on(self) -> bool:
        """True while the last alert is within the hold time."""
        return self.camera.alert_active
