"""Camera kinds: one module per kind of camera subentry, all behind `CameraKind`.

Adding a kind: its module here (a `CameraKind` subclass) and one line in `CAMERA_KINDS`, its
subentry flow (flows/<kind>.py and one line in `SUBENTRY_FLOWS`), and its strings. The hub
knows only the interface.
"""

from __future__ import annotations

from .base import CameraKind, CameraSpec
from .frigate import FrigateCameras
from .ftp import FtpCameras
from .local_folder import LocalFolderCameras
from .rtsp import RtspCameras

CAMERA_KINDS: dict[str, type[CameraKind]] = {
    kind.subentry_type: kind
    for kind in (LocalFolderCameras, RtspCameras, FrigateCameras, FtpCameras)
}

__all__ = ["CAMERA_KINDS", "CameraKind", "CameraSpec"]
