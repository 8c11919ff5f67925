"""Sensors: per camera (activity, risk, summary, objects, counters) and for the hub.

Diagnostics most users never look at are disabled by default: the pipeline's in-flight and
queued counters, the vision model's tokens and latency, Frigate's failed downloads, the RTSP
last-frame time. Connectivity, the last error, the vision model's calls and cost stay on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .core.models import ActivityType, RiskLevel
from .core.vlm.usage import UsageSnapshot
from .entity import (
    HomeSecCameraEntity,
    HomeSecHubEntity,
    async_add_camera_entities,
)
from .hub import HomeSecConfigEntry, HomeSecHub
from .runtime import CameraRuntime

PARALLEL_UPDATES = 0
MAX_STATE_LENGTH = 255


# States of the summary sensor when a clip has no analysis: fixed keys the frontend shows
# translated (entity.sensor.summary.state.<key>); the reason itself is in the attributes.
SUMMARY_SKIP_STATES = frozenset(
    {"vlm_not_configured", "run_mode_never", "no_trigger_class", "budget_exhausted", "vlm_failed"}
)
SUMMARY_NOT_ANALYZED = "not_analyzed"
SUMMARY_FAILED = "clip_failed"
# The objects sensor's state when the filter saw nothing (shown translated).
OBJECTS_NONE = "none"
# The last-error sensor's state while there has been no error since the start.
NO_ERROR = "none"


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_STATE_LENGTH else text[: MAX_STATE_LENGTH - 1] + "…"


def _summary(camera: CameraRuntime) -> str | None:
    state = camera.last_finished
    if state is None:
        return None
    if state.analysis is not None:
        return _truncate(state.analysis.summary)
    if state.analysis_skipped_reason in SUMMARY_SKIP_STATES:
        return state.analysis_skipped_reason
    return SUMMARY_FAILED if state.error else SUMMARY_NOT_ANALYZED


def _objects(camera: CameraRuntime) -> str | None:
    state = camera.last_finished
    if state is None or state.filter_result is None:
        return None
    return ", ".join(state.filter_result.detected_classes) or OBJECTS_NONE


def _summary_attrs(camera: CameraRuntime) -> dict[str, Any]:
    state = camera.last_finished
    if state is None:
        return {}
    analysis = state.analysis
    return {
        "clip_id": state.clip_id,
        "full_summary": analysis.summary if analysis else None,
        "observations": list(analysis.observations) if analysis else [],
        "timeline": [e.to_dict() for e in analysis.entities] if analysis else [],
        "requires_review": analysis.requires_review if analysis else False,
        "reason": state.alert_decision.reason if state.alert_decision else None,
        "review": state.review.value if state.review else None,
        "analysis_skipped_reason": state.analysis_skipped_reason,
        "error": state.error,
        "media_url": (camera.last_payload or {}).get("media_url"),
    }


def _objects_attrs(camera: CameraRuntime) -> dict[str, Any]:
    state = camera.last_finished
    if state is None or state.filter_result is None:
        return {}
    return {
        "best_confidence": state.filter_result.best_confidence,
        "frames_sampled": state.filter_result.frames_sampled,
        "model": state.filter_result.model,
    }


@dataclass(frozen=True, kw_only=True)
class CameraSensorDescription(SensorEntityDescription):
    """How a camera sensor reads its value."""

    value_fn: Callable[[CameraRuntime], str | int | None]
    attrs_fn: Callable[[CameraRuntime], dict[str, Any]] | None = None


CAMERA_SENSORS: tuple[CameraSensorDescription, ...] = (
    CameraSensorDescription(
        key="activity_type",
        translation_key="activity_type",
        device_class=SensorDeviceClass.ENUM,
        options=[a.value for a in ActivityType],
        value_fn=lambda c: (
            c.last_finished.analysis.activity_type.value
            if c.last_finished and c.last_finished.analysis
            else None
        ),
    ),
    CameraSensorDescription(
        key="risk_level",
        translation_key="risk_level",
        device_class=SensorDeviceClass.ENUM,
        options=[r.value for r in RiskLevel],
        value_fn=lambda c: (
            c.last_finished.analysis.risk_level.value
            if c.last_finished and c.last_finished.analysis
            else None
        ),
    ),
    CameraSensorDescription(
        key="summary",
        translation_key="summary",
        value_fn=_summary,
        attrs_fn=_summary_attrs,
    ),
    CameraSensorDescription(
        key="detected_objects",
        translation_key="detected_objects",
        value_fn=_objects,
        attrs_fn=_objects_attrs,
    ),
    CameraSensorDescription(
        key="clips_today",
        translation_key="clips_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda c: c.clips_today,
    ),
    CameraSensorDescription(
        key="alerts_today",
        translation_key="alerts_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda c: c.alerts_today,
    ),
)


@dataclass(frozen=True, kw_only=True)
class HubSensorDescription(SensorEntityDescription):
    """How a hub sensor reads its value."""

    value_fn: Callable[[HomeSecHub], str | int | float | datetime | None]
    attrs_fn: Callable[[HomeSecHub], dict[str, Any]] | None = None


def _last_error(hub: HomeSecHub) -> str:
    message = hub.pipeline.last_error
    return NO_ERROR if message is None else _truncate(message)


HUB_SENSORS: tuple[HubSensorDescription, ...] = (
    HubSensorDescription(
        key="clips_in_flight",
        translation_key="clips_in_flight",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda h: h.pipeline.clips_in_flight,
    ),
    HubSensorDescription(
        key="clips_queued",
        translation_key="clips_queued",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda h: h.pipeline.clips_queued,
    ),
    HubSensorDescription(
        key="last_error",
        translation_key="last_error",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_last_error,
        attrs_fn=lambda h: {
            "message": h.pipeline.last_error,
            "time": h.pipeline.last_error_at.isoformat() if h.pipeline.last_error_at else None,
        },
    ),
)


def _usage(hub: HomeSecHub) -> UsageSnapshot:
    assert hub.vision is not None
    return hub.vision.usage.snapshot()


VLM_SENSORS: tuple[HubSensorDescription, ...] = (
    HubSensorDescription(
        key="vlm_calls_today",
        translation_key="vlm_calls_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda h: _usage(h).calls,
    ),
    HubSensorDescription(
        key="vlm_tokens_today",
        translation_key="vlm_tokens_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_registry_enabled_default=False,
        value_fn=lambda h: _usage(h).total_tokens,
        attrs_fn=lambda h: {
            "prompt_tokens": _usage(h).prompt_tokens,
            "completion_tokens": _usage(h).completion_tokens,
            "max_tokens_per_day": _usage(h).max_tokens_per_day or None,
        },
    ),
    HubSensorDescription(
        key="vlm_last_latency",
        translation_key="vlm_last_latency",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        value_fn=lambda h: _usage(h).last_latency_ms,
    ),
    HubSensorDescription(
        key="vlm_cost_today",
        translation_key="vlm_cost_today",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=4,
        value_fn=lambda h: round(_usage(h).estimated_cost, 6),
    ),
)


# The off-site copy (Dropbox), while it is on.
OFFSITE_SENSORS: tuple[HubSensorDescription, ...] = (
    HubSensorDescription(
        key="offsite_backlog",
        translation_key="offsite_backlog",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda h: h.offsite.backlog,
        attrs_fn=lambda h: {
            "signed_in": h.offsite.signed_in,
            "blocked": h.offsite.copier.status.blocked if h.offsite.copier else None,
            "last_error": h.offsite.copier.status.last_error if h.offsite.copier else None,
        },
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeSecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Hub sensors, then each camera's sensors under its subentry."""
    hub = entry.runtime_data
    async_add_entities(HomeSecHubSensor(hub, d) for d in HUB_SENSORS)
    if hub.vision is not None:
        async_add_entities(HomeSecHubSensor(hub, d) for d in VLM_SENSORS)
    if hub.offsite.enabled:
        async_add_entities(HomeSecHubSensor(hub, d) for d in OFFSITE_SENSORS)
    hub.async_add_kind_entities(Platform.SENSOR, async_add_entities)

    def build(camera: CameraRuntime) -> list[Entity]:
        return [
            *(HomeSecCameraSensor(hub, camera, d) for d in CAMERA_SENSORS),
            *hub.camera_entities(Platform.SENSOR, camera),
        ]

    async_add_camera_entities(hub, async_add_entities, build)


class HomeSecCameraSensor(HomeSecCameraEntity, SensorEntity):
    """A sensor of one camera."""

    entity_description: CameraSensorDescription

    def __init__(
        self, hub: HomeSecHub, camera: CameraRuntime, description: CameraSensorDescription
    ) -> None:
        super().__init__(hub, camera, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> str | int | None:
        """The value from the camera's last processed clip."""
        return self.entity_description.value_fn(self.camera)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details that do not fit in a state."""
        if self.entity_description.attrs_fn is None:
            return None
        return self.entity_description.attrs_fn(self.camera)


class HomeSecHubSensor(HomeSecHubEntity, SensorEntity):
    """A sensor of the hub."""

    entity_description: HubSensorDescription

    hub: HomeSecHub

    def __init__(self, hub: HomeSecHub, description: HubSensorDescription) -> None:
        super().__init__(hub, description.key)
        self.entity_description = description
        if description.device_class is SensorDeviceClass.MONETARY:
            self._attr_native_unit_of_measurement = hub.hass.config.currency

    @property
    def native_value(self) -> str | int | float | datetime | None:
        """The pipeline's current value."""
        return self.entity_description.value_fn(self.hub)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details that do not fit in a state."""
        if self.entity_description.attrs_fn is None:
            return None
        return self.entity_description.attrs_fn(self.hub)
