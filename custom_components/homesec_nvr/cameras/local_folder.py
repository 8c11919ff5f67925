"""Watched-folder cameras: a folder another program (or a camera over a share) writes clips
into, polled for files that stopped growing; the folder-unreadable repair issue.

The watching logic lives in core/sources/local_folder.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

from homeassistant.core import callback
from homeassistant.helpers import issue_registry as ir

from ..const import (
    CONF_FOLDER,
    CONF_POLL_INTERVAL_S,
    CONF_STABLE_TIME_S,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_STABLE_TIME_S,
    DOMAIN,
    ISSUE_FOLDER_UNREADABLE,
    SUBENTRY_LOCAL_FOLDER,
)
from ..core.sources.local_folder import LocalFolderSource
from ..runtime import CameraRuntime, SubmitClip
from .base import CameraKind, clip_callback

_LOGGER = logging.getLogger(__name__)


class LocalFolderCameras(CameraKind):
    """One watched folder, one camera."""

    subentry_type: ClassVar[str] = SUBENTRY_LOCAL_FOLDER

    source: LocalFolderSource | None = None

    async def async_start(self, submit: SubmitClip) -> None:
        """Watch the folder; clips found there go to the pipeline."""
        camera = self.hub.cameras.get(self.subentry_id)
        if camera is None:
            return
        self.source = LocalFolderSource(
            camera_id=camera.camera_id,
            camera_name=camera.name,
            folder=Path(camera.config[CONF_FOLDER]),
            poll_interval_s=float(camera.config.get(CONF_POLL_INTERVAL_S, DEFAULT_POLL_INTERVAL_S)),
            stable_time_s=float(camera.config.get(CONF_STABLE_TIME_S, DEFAULT_STABLE_TIME_S)),
            supervisor=self.hub.supervisor,
        )
        camera.source = self.source
        await self.source.start(clip_callback(submit))
        _LOGGER.info("Camera %s: watching %s", camera.name, camera.config[CONF_FOLDER])
        camera.notify_status()

    async def async_stop(self) -> None:
        """Stop watching."""
        if self.source is not None:
            await self.source.stop()
            self.source = None
        if (camera := self.hub.cameras.get(self.subentry_id)) is not None:
            camera.source = None

    def available(self, camera: CameraRuntime) -> bool:
        """Unavailable while the watcher keeps dying (it is restarted; a repair issue says
        why)."""
        return self.source is None or not self.source.watcher_failing

    @callback
    def check_health(self) -> None:
        """A folder that cannot be read raises a repair issue until it can again."""
        camera = self.hub.cameras.get(self.subentry_id)
        if self.source is None or camera is None:
            return
        issue_id = f"{ISSUE_FOLDER_UNREADABLE}_{camera.camera_id}"
        if self.source.healthy:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_FOLDER_UNREADABLE,
            translation_placeholders={
                "camera": camera.name,
                "folder": str(camera.config.get(CONF_FOLDER, "")),
                "error": self.source.last_error or "",
            },
        )
