"""Binary sensors: each camera's `alert` (on for a while after each alert), the hub's
`problem` (health.py), the vision model's budget, and the extra ones each camera kind brings
(cameras/)."""

from __future__ import annotations

from typing import Any

# HA 2026 moved BinarySensorDeviceClass to binary_sensor.const and re-exports it implicitly
# (that module does not exist in 2025.4): the package import works on both lines.
from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined]
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import (
    HomeSecCameraEntity,
    HomeSecHubEntity,
    async_add_camera_entities,
)
from .hub import HomeSecConfigEntry, HomeSecHub
from .runtime import CameraRuntime

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeSecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One alert binary_sensor per camera."""
    hub = entry.runtime_data

    def build(camera: CameraRuntime) -> list[Entity]:
        return [
            HomeSecAlertBinarySensor(hub, camera),
            *hub.camera_entities(Platform.BINARY_SENSOR, camera),
        ]

    async_add_camera_entities(hub, async_add_entities, build)
    async_add_entities([HomeSecProblemBinarySensor(hub)])
    if hub.vision is not None:
        async_add_entities([HomeSecBudgetBinarySensor(hub)])
    hub.async_add_kind_entities(Platform.BINARY_SENSOR, async_add_entities)


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


class HomeSecProblemBinarySensor(HomeSecHubEntity, BinarySensorEntity):
    """On while the storage folder, the clip database or a background task has a problem."""

    _attr_translation_key = "problem"
    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    hub: HomeSecHub

    def __init__(self, hub: HomeSecHub) -> None:
        super().__init__(hub, "problem")

    @property
    def is_on(self) -> bool:
        """True while something needs the user (a repair issue says what)."""
        return bool(self.hub.health.problems())

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Which problems, and the counters behind them."""
        return self.hub.health.attributes()


class HomeSecBudgetBinarySensor(HomeSecHubEntity, BinarySensorEntity):
    """On while the vision model's daily budget is spent (analyses are skipped)."""

    _attr_translation_key = "vlm_budget_exhausted"
    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    hub: HomeSecHub

    def __init__(self, hub: HomeSecHub) -> None:
        super().__init__(hub, "vlm_budget_exhausted")

    @property
    def is_on(self) -> bool:
        """True once today's call or token limit is reached (until local midnight)."""
        assert self.hub.vision is not None
        return self.hub.vision.usage.exhausted_by() is not None

    @property
    def extra_state_attributes(self) -> dict[str, str | None]:
        """Which limit is spent."""
        assert self.hub.vision is not None
        return {"limit": self.hub.vision.usage.exhausted_by()}
