"""The per-camera `alert` binary_sensor: on for a while after each alert."""

from __future__ import annotations

# HA 2026 moved BinarySensorDeviceClass to binary_sensor.const and re-exports it implicitly
# (that module does not exist in 2025.4): the package import works on both lines.
from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined]
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import SUBENTRY_RTSP
from .core.sources.rtsp import RtspSource
from .entity import (
    HomeSecCameraEntity,
    HomeSecFrigateEntity,
    HomeSecHubEntity,
    async_add_camera_entities,
)
from .frigate_source import FrigateServer
from .hub import CameraRuntime, HomeSecConfigEntry, HomeSecHub

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeSecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One alert binary_sensor per camera."""
    hub = entry.runtime_data

    def build(camera: CameraRuntime) -> list[BinarySensorEntity]:
        entities: list[BinarySensorEntity] = [HomeSecAlertBinarySensor(hub, camera)]
        if camera.source_type == SUBENTRY_RTSP:
            entities += [
                RtspMotionBinarySensor(hub, camera),
                RtspConnectedBinarySensor(hub, camera),
            ]
        return entities

    async_add_camera_entities(hub, async_add_entities, build)
    if hub.vision is not None:
        async_add_entities([HomeSecBudgetBinarySensor(hub)])
    for server in hub.frigate_servers.values():
        async_add_entities(
            [FrigateConnectivityBinarySensor(hub, server)],
            config_subentry_id=server.subentry_id,
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


class HomeSecBudgetBinarySensor(HomeSecHubEntity, BinarySensorEntity):
    """On while the vision model's daily budget is spent (analyses are skipped)."""

    _attr_translation_key = "vlm_budget_exhausted"
    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC

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


class FrigateConnectivityBinarySensor(HomeSecFrigateEntity, BinarySensorEntity):
    """On while Frigate is online (`<prefix>/available`) and its API answers."""

    _attr_translation_key = "frigate_connected"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, hub: HomeSecHub, server: FrigateServer) -> None:
        super().__init__(hub, server, "connected")

    @property
    def is_on(self) -> bool:
        """Frigate is reachable."""
        return self.server.connected

    @property
    def extra_state_attributes(self) -> dict[str, str | int | None]:
        """What the health is based on."""
        last = self.server.last_api_success
        return {
            "availability": self.server.source.availability.value,
            "last_api_success": last.isoformat() if last else None,
            "version": self.server.version,
            "clip_downloads_failed": self.server.source.clips_download_failed,
        }


class _RtspLiveEntity(HomeSecCameraEntity):
    """Follows the RTSP worker's live state (pushed from its thread to the event loop)."""

    _live = True

    @property
    def _rtsp(self) -> RtspSource | None:
        source = self.camera.source
        return source if isinstance(source, RtspSource) else None


class RtspMotionBinarySensor(_RtspLiveEntity, BinarySensorEntity):
    """Motion as HomeSec's detector sees it, live."""

    _attr_translation_key = "motion"
    _attr_device_class = BinarySensorDeviceClass.MOTION

    def __init__(self, hub: HomeSecHub, camera: CameraRuntime) -> None:
        super().__init__(hub, camera, "motion")

    @property
    def is_on(self) -> bool:
        """True while motion is detected."""
        return bool(self._rtsp and self._rtsp.motion)

    @property
    def extra_state_attributes(self) -> dict[str, float]:
        """The last motion score (changed area, %)."""
        return {"score": round(self._rtsp.last_motion_score, 3) if self._rtsp else 0.0}


class RtspConnectedBinarySensor(_RtspLiveEntity, BinarySensorEntity):
    """Whether the camera's stream is connected."""

    _attr_translation_key = "connected"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _reports_health = True

    def __init__(self, hub: HomeSecHub, camera: CameraRuntime) -> None:
        super().__init__(hub, camera, "connected")

    @property
    def is_on(self) -> bool:
        """True while frames arrive."""
        return bool(self._rtsp and self._rtsp.connected)

    @property
    def extra_state_attributes(self) -> dict[str, str | int | None]:
        """Last frame, last error, reconnects."""
        rtsp = self._rtsp
        if rtsp is None:
            return {"last_error": self.camera.source_error}
        return {
            "last_frame": rtsp.last_frame_time.isoformat() if rtsp.last_frame_time else None,
            "last_error": rtsp.last_error,
            "reconnects": rtsp.reconnects,
        }
