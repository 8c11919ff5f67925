"""The camera-kind interface: what Home Assistant needs from one kind of camera.

Each camera subentry (a watched folder, an RTSP camera, a Frigate server, ...) is run by one
`CameraKind` object of its type. The hub knows only this interface; each kind's module
(cameras/<kind>.py) implements it and the registry in cameras/__init__.py names it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity import Entity

from ..const import FILTER_NONE
from ..core.interfaces import ClipCallback
from ..core.models import Clip, ClipState
from ..runtime import CameraRuntime, HubRuntime, SubmitClip


def clip_callback(submit: SubmitClip) -> ClipCallback:
    """A source's clip callback that hands each clip to the pipeline (duplicates, which the
    store already knows, are dropped there)."""

    async def on_clip(clip: Clip) -> None:
        await submit(clip)

    return on_clip


class CameraSpec(NamedTuple):
    """A camera a subentry brings: its id (the device identifier), name and settings."""

    camera_id: str
    name: str
    config: Mapping[str, Any]


class CameraKind(ABC):
    """One subentry's cameras: their sources, health, repair issues and extra entities."""

    # The subentry type this kind runs.
    subentry_type: ClassVar[str]
    # The clips are HomeSec's own files (recorded or downloaded): removed once stored.
    owns_clip_files: ClassVar[bool] = False
    # The object filter a camera uses when its form leaves it unset.
    default_filter: ClassVar[str] = FILTER_NONE

    def __init__(self, hub: HubRuntime, subentry: ConfigSubentry) -> None:
        self.hub = hub
        self.hass = hub.hass
        self.subentry_id = subentry.subentry_id
        self.title = subentry.title
        self.config: dict[str, Any] = dict(subentry.data)

    # -- cameras ------------------------------------------------------------------------

    def restore_cameras(self) -> list[CameraSpec]:
        """The cameras known at setup (one per subentry unless the kind says otherwise)."""
        return [CameraSpec(self.subentry_id, self.title, self.config)]

    @classmethod
    def configures(cls, subentry: ConfigSubentry, identifier: str) -> bool:
        """Whether a device identifier of this subentry (`<subentry id>` or
        `<subentry id>:<camera>`) is still one of its cameras or its own device; False makes
        the device stale. By default every camera of an existing subentry is."""
        return True

    @classmethod
    async def async_camera_gone(
        cls, hass: HomeAssistant, subentry: ConfigSubentry, identifier: str
    ) -> bool:
        """Whether a configured camera is known to be gone at its source (its device may then
        be deleted by the user); by default nobody can tell."""
        return False

    # -- lifecycle ----------------------------------------------------------------------

    @abstractmethod
    async def async_start(self, submit: SubmitClip) -> None:
        """Start the sources; recover what a previous run left (finished clips first)."""

    @abstractmethod
    async def async_stop(self) -> None:
        """Stop every source, task and subscription of this subentry."""

    # -- health -------------------------------------------------------------------------

    def available(self, camera: CameraRuntime) -> bool:
        """False while the camera's source is down (its entities are then unavailable)."""
        return True

    @callback
    def check_health(self) -> None:
        """Periodic: refresh live entities, raise or clear this kind's repair issues."""
        return

    # -- pipeline hooks and entities ----------------------------------------------------

    @callback
    def clip_updated(self, state: ClipState, stage: str) -> None:
        """A clip of one of this subentry's cameras reached a pipeline stage."""
        return

    def entities(self, platform: Platform) -> list[Entity]:
        """Entities of the subentry itself (e.g. a server's connectivity) on a platform."""
        return []

    def camera_entities(self, platform: Platform, camera: CameraRuntime) -> list[Entity]:
        """This kind's extra entities of one camera on a platform."""
        return []

    def diagnostics(self) -> dict[str, Any] | None:
        """The subentry's own details (beyond its cameras'), or None."""
        return None
