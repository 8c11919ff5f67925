"""The per-camera event entity: live_detection, clip_recorded, objects_detected, analyzed, alert."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import (
    EVENT_TYPE_ALERT,
    EVENT_TYPE_ANALYZED,
    EVENT_TYPE_CLIP_RECORDED,
    EVENT_TYPE_LIVE_DETECTION,
    EVENT_TYPE_OBJECTS_DETECTED,
    EVENT_TYPES,
)
from .core.models import ClipState
from .core.payload import clip_payload
from .entity import HomeSecCameraEntity, async_add_camera_entities
from .hub import HomeSecConfigEntry, HomeSecHub
from .runtime import CameraRuntime

PARALLEL_UPDATES = 0

# Pipeline stage -> event type of the entity.
_STAGE_EVENTS = {
    "clip_recorded": EVENT_TYPE_CLIP_RECORDED,
    "objects_detected": EVENT_TYPE_OBJECTS_DETECTED,
    "analyzed": EVENT_TYPE_ANALYZED,
    "alert": EVENT_TYPE_ALERT,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeSecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One event entity per camera."""
    hub = entry.runtime_data
    async_add_camera_entities(
        hub, async_add_entities, lambda camera: [HomeSecCameraEvent(hub, camera)]
    )


class HomeSecCameraEvent(HomeSecCameraEntity, EventEntity):
    """Fires as a clip moves through the pipeline; the payload is in the attributes."""

    _attr_translation_key = "activity"
    _attr_event_types = list(EVENT_TYPES)

    hub: HomeSecHub

    def __init__(self, hub: HomeSecHub, camera: CameraRuntime) -> None:
        super().__init__(hub, camera, "activity")

    async def async_added_to_hass(self) -> None:
        """Also fire for the camera's live detections."""
        await super().async_added_to_hass()
        self.async_on_remove(self.camera.add_live_listener(self._handle_live))

    @callback
    def _handle_live(self, payload: dict[str, Any]) -> None:
        self._trigger_event(EVENT_TYPE_LIVE_DETECTION, payload)
        self.async_write_ha_state()

    @callback
    def _handle_camera_update(self, stage: str, state: ClipState) -> None:
        event_type = _STAGE_EVENTS.get(stage)
        if event_type is None:
            return
        if event_type == EVENT_TYPE_OBJECTS_DETECTED and not (
            state.filter_result and state.filter_result.detected_classes
        ):
            return
        self._trigger_event(event_type, clip_payload(state, self.hub.links_for(state)))
        self.async_write_ha_state()
