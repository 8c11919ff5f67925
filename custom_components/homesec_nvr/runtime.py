"""Live state shared by the hub, the camera kinds and the entities.

`CameraRuntime` is one camera's live state (what its device's entities show). `HubRuntime` is
what camera kinds and base entities may use of the running hub; `HomeSecHub` (hub.py)
implements it. Keeping both here lets the layers import downwards only:
platforms -> hub -> camera kinds -> entity bases -> this module -> core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .core.interfaces import ClipSource
from .core.models import Clip, ClipState, LiveDetection
from .core.runner import CameraPipelineSettings
from .core.sources.rtsp.live_detect import FrameDetector
from .core.supervisor import TaskSupervisor

CameraListener = Callable[[str, ClipState], None]
LiveListener = Callable[[dict[str, Any]], None]
# Hands a finished clip to the pipeline; False when the store already has it.
SubmitClip = Callable[[Clip], Awaitable[bool]]


def _always_available() -> bool:
    return True


@dataclass(slots=True)
class CameraRuntime:
    """Live state of one camera, shown by its device's entities.

    `camera_id` names the device and the clips; it equals the subentry id for kinds with one
    camera per subentry. `source` is the camera's own clip source, when its kind runs one per
    camera. `is_available` tells whether the source is up (set by the camera's kind).
    """

    camera_id: str
    subentry_id: str
    name: str
    source_type: str
    config: dict[str, Any]
    settings: CameraPipelineSettings
    source: ClipSource | None = None
    last_clip: ClipState | None = None
    last_finished: ClipState | None = None
    last_payload: dict[str, Any] | None = None
    clips_today: int = 0
    alerts_today: int = 0
    alert_active: bool = False
    snapshot_path: Path | None = None
    snapshot_updated: datetime | None = None
    source_error: str | None = None
    is_available: Callable[[], bool] = _always_available
    _listeners: list[CameraListener] = field(default_factory=list)
    _live_listeners: list[LiveListener] = field(default_factory=list)
    _status_listeners: list[CALLBACK_TYPE] = field(default_factory=list)
    _alert_off: CALLBACK_TYPE | None = None

    @callback
    def add_listener(self, listener: CameraListener) -> CALLBACK_TYPE:
        """Call `listener(stage, state)` on every update; returns the remover."""
        self._listeners.append(listener)

        def remove() -> None:
            self._listeners.remove(listener)

        return remove

    @callback
    def notify(self, stage: str, state: ClipState) -> None:
        """Tell every entity of the camera."""
        for listener in list(self._listeners):
            listener(stage, state)

    @callback
    def add_live_listener(self, listener: LiveListener) -> CALLBACK_TYPE:
        """Call `listener(payload)` for each live detection of the camera; returns the remover."""
        self._live_listeners.append(listener)

        def remove() -> None:
            self._live_listeners.remove(listener)

        return remove

    @callback
    def notify_live(self, payload: dict[str, Any]) -> None:
        """A trigger object was seen live (the payload of `homesec_nvr_live_detection`)."""
        for listener in list(self._live_listeners):
            listener(payload)

    @callback
    def add_status_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener()` when the source's live state (motion, connection) changes."""
        self._status_listeners.append(listener)

        def remove() -> None:
            self._status_listeners.remove(listener)

        return remove

    @callback
    def notify_status(self) -> None:
        """The source's live state changed."""
        for listener in list(self._status_listeners):
            listener()


class HubRuntime(Protocol):
    """What camera kinds and base entities use of the running hub."""

    hass: HomeAssistant
    entry: ConfigEntry
    cameras: dict[str, CameraRuntime]
    # The hub device's registry id (camera devices are linked to it), and its version.
    device_id: str | None
    sw_version: str | None
    # Runs the sources' long-lived loops, restarting one that dies (reported by the hub).
    supervisor: TaskSupervisor

    def create_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A long-lived task that unloading the entry cancels."""

    async def has_clip(self, clip_id: str) -> bool:
        """Whether the store already knows this clip."""

    def new_camera(
        self, camera_id: str, subentry_id: str, name: str, config: Mapping[str, Any]
    ) -> CameraRuntime:
        """A camera with its effective settings (not yet registered)."""

    def async_add_camera(self, camera: CameraRuntime) -> None:
        """Register a camera that appeared while running: every platform adds its entities."""

    def add_camera_listener(self, listener: Callable[[CameraRuntime], None]) -> CALLBACK_TYPE:
        """Call `listener(camera)` for each camera added after setup; returns the remover."""

    def add_hub_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener()` whenever pipeline counters may have changed."""

    def async_live_detection(
        self,
        detection: LiveDetection,
        fetch_snapshot: Callable[[], Awaitable[bytes | None]] | None = None,
    ) -> None:
        """A source saw a trigger object live, before the event's clip exists."""

    def live_frame_detector(self, camera_id: str) -> FrameDetector | None:
        """The camera's object filter on one frame (for live detection), if it has a model."""
