"""The per-camera image entity: the snapshot of the latest clip (best frame or keyframe).

Before a camera's first clip (or once its snapshot file is gone) the entity has no picture:
`entity_picture` is None, so the frontend shows the entity's icon instead of asking Home
Assistant's image proxy, which answers 500 for an image entity without bytes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from homeassistant.components.image import ImageEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .core.models import ClipState
from .entity import HomeSecCameraEntity, async_add_camera_entities
from .hub import HomeSecConfigEntry, HomeSecHub
from .runtime import CameraRuntime

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeSecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One snapshot image per camera."""
    hub = entry.runtime_data
    async_add_camera_entities(
        hub, async_add_entities, lambda camera: [HomeSecSnapshotImage(hass, hub, camera)]
    )


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


class HomeSecSnapshotImage(HomeSecCameraEntity, ImageEntity):
    """Snapshot of the camera's latest clip."""

    _attr_translation_key = "snapshot"
    _attr_content_type = "image/jpeg"

    def __init__(self, hass: HomeAssistant, hub: HomeSecHub, camera: CameraRuntime) -> None:
        HomeSecCameraEntity.__init__(self, hub, camera, "snapshot")
        ImageEntity.__init__(self, hass)
        self._attr_image_last_updated = camera.snapshot_updated

    @callback
    def _handle_camera_update(self, stage: str, state: ClipState) -> None:
        if self.camera.snapshot_updated != self._attr_image_last_updated:
            self._attr_image_last_updated = self.camera.snapshot_updated
            self._cached_image = None
            self.async_write_ha_state()

    @property
    def image_last_updated(self) -> datetime | None:
        """When the snapshot last changed."""
        return self._attr_image_last_updated

    @property
    def entity_picture(self) -> str | None:
        """The image proxy's link, only while there is a snapshot to show."""
        if self.camera.snapshot_path is None:
            return None
        return super().entity_picture

    async def async_image(self) -> bytes | None:
        """The JPEG bytes, read off the event loop."""
        path = self.camera.snapshot_path
        if path is None:
            return None
        image = await self.hass.async_add_executor_job(_read, path)
        if image is None and self.camera.snapshot_path == path:
            # Deleted meanwhile (retention): show no picture rather than a broken one.
            _LOGGER.debug("Snapshot %s of %s is gone", path, self.camera.name)
            self.camera.snapshot_path = None
            self.async_write_ha_state()
        return image
