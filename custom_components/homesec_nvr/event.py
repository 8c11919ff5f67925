"""The per-camera event entity: one event per clip, and one per live detection.

A clip fires once, with what it came to: `alert` as soon as it alerts, otherwise, once it is
done, `analyzed` (the vision model described it), `objects_detected` (the filter found
objects) or `clip_recorded`. Each firing is one logbook line ("detected an event", which is all
the logbook shows of an event entity), so one clip is one line, not one per pipeline stage.
`live_detection` fires when a live source sees a trigger object, before the clip exists.
"""

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
        event_type = clip_event_type(stage, state)
        if event_type is None:
            return
        self._trigger_event(event_type, clip_payload(state, self.hub.links_for(state)))
        self.async_write_ha_state()


def clip_event_type(stage: str, state: ClipState) -> str | None:
    """The event a clip fires at this pipeline stage, if any: once per clip."""
    if stage == "alert":
        return EVENT_TYPE_ALERT
    if stage != "finished" or state.alert_reported:
        # An alerting clip fired at its alert (before a restart too, if one came in between).
        return None
    if state.analysis is not None:
        return EVENT_TYPE_ANALYZED
    if state.filter_result is not None and state.filter_result.detected_classes:
        return EVENT_TYPE_OBJECTS_DETECTED
    return EVENT_TYPE_CLIP_RECORDED
