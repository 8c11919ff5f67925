"""FTP cameras: cameras upload their clips (or JPEG snapshots) to HomeSec's FTP server.

One server per hub, shared by the hub's FTP cameras: it runs while at least one FTP camera
does, as a supervised task of the hub (restarted with backoff should it die, a repair issue
says why), with the address, port and passive ports of the hub's "FTP server" options. Each
camera subentry is one login whose folder is `<config>/homesec/ftp_uploads/<subentry id>`.
The protocol and the clip logic live in core/sources/ftp*.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from ..const import (
    CONF_FTP_BIND_ADDRESS,
    CONF_FTP_MAX_SESSIONS,
    CONF_FTP_MAX_UPLOAD_MB,
    CONF_FTP_PASSIVE_MAX,
    CONF_FTP_PASSIVE_MIN,
    CONF_FTP_PORT,
    CONF_FTP_TLS_CERTFILE,
    CONF_FTP_TLS_KEYFILE,
    CONF_FTP_TLS_REQUIRED,
    CONF_SNAPSHOT_GAP_S,
    DEFAULT_FTP_BIND_ADDRESS,
    DEFAULT_FTP_MAX_SESSIONS,
    DEFAULT_FTP_MAX_UPLOAD_MB,
    DEFAULT_FTP_PASSIVE_MAX,
    DEFAULT_FTP_PASSIVE_MIN,
    DEFAULT_FTP_PORT,
    DEFAULT_SNAPSHOT_GAP_S,
    DOMAIN,
    FTP_UPLOADS_DIR,
    SUBENTRY_FTP,
)
from ..core.interfaces import PipelineError
from ..core.sources.ftp import FtpSource
from ..core.sources.ftp_server import FtpServer, FtpServerConfig, tls_context
from ..core.supervisor import SupervisedTask
from ..runtime import CameraRuntime, HubRuntime, SubmitClip
from .base import CameraKind, clip_callback

_LOGGER = logging.getLogger(__name__)

FTP_SERVERS = f"{DOMAIN}_ftp_servers"
SERVER_TASK = "homesec ftp server"


def ftp_server_config(options: Mapping[str, Any]) -> FtpServerConfig:
    """The server's settings from the hub's options (defaults for what is unset)."""
    low = int(options.get(CONF_FTP_PASSIVE_MIN, DEFAULT_FTP_PASSIVE_MIN))
    high = int(options.get(CONF_FTP_PASSIVE_MAX, DEFAULT_FTP_PASSIVE_MAX))
    return FtpServerConfig(
        host=str(options.get(CONF_FTP_BIND_ADDRESS, DEFAULT_FTP_BIND_ADDRESS)),
        port=int(options.get(CONF_FTP_PORT, DEFAULT_FTP_PORT)),
        passive_ports=(low, high),
        max_sessions=int(options.get(CONF_FTP_MAX_SESSIONS, DEFAULT_FTP_MAX_SESSIONS)),
        max_upload_bytes=int(
            float(options.get(CONF_FTP_MAX_UPLOAD_MB, DEFAULT_FTP_MAX_UPLOAD_MB)) * 1024 * 1024
        ),
        require_tls=bool(options.get(CONF_FTP_TLS_CERTFILE))
        and bool(options.get(CONF_FTP_TLS_REQUIRED, False)),
    )


class FtpCertificateError(PipelineError):
    """The FTPS certificate or key cannot be loaded (the server does not start)."""


def ftp_folder(hass: HomeAssistant, subentry_id: str) -> Path:
    """Where a camera's uploads land (its login's `/`)."""
    return Path(hass.config.path(FTP_UPLOADS_DIR)) / subentry_id


class HubFtpServer:
    """The hub's one FTP server, running while any FTP camera uses it."""

    def __init__(self, hub: HubRuntime) -> None:
        self.hub = hub
        self.server = FtpServer(ftp_server_config(hub.entry.options))
        self.users: set[str] = set()
        self.task: SupervisedTask | None = None

    def acquire(self, subentry_id: str) -> FtpServer:
        self.users.add(subentry_id)
        if self.task is None:
            self.task = self.hub.supervisor.start(SERVER_TASK, self._serve)
        return self.server

    async def _serve(self) -> None:
        """Load the FTPS certificate (again at each restart, so a fixed file is picked up),
        then serve."""
        options = self.hub.entry.options
        if certfile := str(options.get(CONF_FTP_TLS_CERTFILE) or ""):
            keyfile = str(options.get(CONF_FTP_TLS_KEYFILE) or certfile)
            try:
                self.server.config.tls = await self.hub.hass.async_add_executor_job(
                    tls_context, certfile, keyfile
                )
            except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
                self.server.last_error = f"cannot load the FTPS certificate {certfile}: {err}"
                raise FtpCertificateError(self.server.last_error) from None
        await self.server.serve()

    async def release(self, subentry_id: str) -> bool:
        """Forget a camera; the last one stops the server (and frees its port). True then."""
        self.users.discard(subentry_id)
        if self.users or self.task is None:
            return False
        task, self.task = self.task, None
        await self.hub.supervisor.stop(task)
        return True

    @property
    def failing(self) -> bool:
        return self.task is not None and self.task.failing


def running_server(hass: HomeAssistant, entry_id: str) -> FtpServer | None:
    """The hub's FTP server while it runs (the forms then need not check its port)."""
    shared: HubFtpServer | None = hass.data.get(FTP_SERVERS, {}).get(entry_id)
    return shared.server if shared is not None and shared.task is not None else None


class FtpCameras(CameraKind):
    """One FTP login, one camera."""

    subentry_type: ClassVar[str] = SUBENTRY_FTP
    # Uploads are handed over to HomeSec: removed from the FTP folder once stored.
    owns_clip_files: ClassVar[bool] = True

    source: FtpSource | None = None
    shared: HubFtpServer | None = None

    def _shared(self) -> HubFtpServer:
        servers: dict[str, HubFtpServer] = self.hass.data.setdefault(FTP_SERVERS, {})
        shared = servers.get(self.hub.entry.entry_id)
        if shared is None or shared.hub is not self.hub:
            shared = servers[self.hub.entry.entry_id] = HubFtpServer(self.hub)
        return shared

    async def async_start(self, submit: SubmitClip) -> None:
        """Add the camera's login to the hub's server (starting it for the first camera)."""
        camera = self.hub.cameras.get(self.subentry_id)
        if camera is None:
            return
        self.shared = self._shared()
        server = self.shared.acquire(self.subentry_id)
        self.source = FtpSource(
            camera_id=camera.camera_id,
            camera_name=camera.name,
            server=server,
            username=str(camera.config[CONF_USERNAME]),
            password=str(camera.config[CONF_PASSWORD]),
            root=ftp_folder(self.hass, self.subentry_id),
            snapshot_gap_s=float(camera.config.get(CONF_SNAPSHOT_GAP_S, DEFAULT_SNAPSHOT_GAP_S)),
        )
        camera.source = self.source
        await self.source.start(clip_callback(submit))
        _LOGGER.info("Camera %s: takes FTP uploads on port %s", camera.name, server.config.port)
        camera.notify_status()

    async def async_stop(self) -> None:
        """Remove the login; the last FTP camera stops the server."""
        if self.source is not None:
            await self.source.stop()
            self.source = None
        if (camera := self.hub.cameras.get(self.subentry_id)) is not None:
            camera.source = None
        if self.shared is not None:
            shared, self.shared = self.shared, None
            if await shared.release(self.subentry_id):
                servers: dict[str, HubFtpServer] = self.hass.data.get(FTP_SERVERS, {})
                if servers.get(self.hub.entry.entry_id) is shared:
                    del servers[self.hub.entry.entry_id]

    def available(self, camera: CameraRuntime) -> bool:
        """Unavailable while the server cannot listen (it is retried; a repair issue says
        why)."""
        return self.shared is None or not self.shared.failing

    def diagnostics(self) -> dict[str, Any] | None:
        if self.shared is None:
            return None
        return {"ftp_server": self.shared.server.diagnostics()}
