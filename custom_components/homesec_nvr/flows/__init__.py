"""The options flow and the camera subentry flows, one module per flow.

Adding a camera kind: its subentry flow module here (form and validation together) and one
line in `SUBENTRY_FLOWS`, next to its `CameraKind` in cameras/. Shared selectors, fields and
checks are in fields.py; what every camera form shares is in camera_base.py.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigSubentryFlow

from ..const import SUBENTRY_FRIGATE, SUBENTRY_FTP, SUBENTRY_LOCAL_FOLDER, SUBENTRY_RTSP
from .frigate import FrigateSubentryFlow
from .ftp import FtpSubentryFlow
from .local_folder import LocalFolderSubentryFlow
from .rtsp import RtspSubentryFlow

# The subentry flow of each subentry type (each camera kind in cameras/CAMERA_KINDS).
SUBENTRY_FLOWS: dict[str, type[ConfigSubentryFlow]] = {
    SUBENTRY_LOCAL_FOLDER: LocalFolderSubentryFlow,
    SUBENTRY_RTSP: RtspSubentryFlow,
    SUBENTRY_FRIGATE: FrigateSubentryFlow,
    SUBENTRY_FTP: FtpSubentryFlow,
}

__all__ = ["SUBENTRY_FLOWS"]
