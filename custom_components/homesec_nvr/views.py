"""The view that serves signed clip and snapshot links (core/links.py).

`GET /api/homesec_nvr/clips/<clip id>/<clip|snapshot|live>?exp=..&sig=..` needs no login (`live`
is the frame a live detection was seen on, named by its event key): the
signature is the authorisation, so a link opens in the companion app, a browser tab, a
persistent notification or an email. A missing, forged or expired signature gets an empty 401
that is not counted as a failed login (so IP banning never locks a user out for opening an old
notification); only files inside the storage folder are served, with Range support for video.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from pathlib import Path

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView

from .core.links import LinkTarget
from .core.store import StoreError
from .hub import loaded_hub

_LOGGER = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".ts": "video/mp2t",
    ".3gp": "video/3gpp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


def _servable(path: Path, root: Path) -> bool:
    """Blocking: the file exists and lies inside the storage folder (links never open
    anything else, whatever the database says)."""
    try:
        resolved = path.resolve(strict=True)
        return resolved.is_file() and resolved.is_relative_to(root.resolve(strict=True))
    except OSError:
        return False


class HomeSecClipView(HomeAssistantView):
    """Serves the file a signed link names."""

    url = "/api/homesec_nvr/clips/{clip_id}/{what}"
    name = "api:homesec_nvr:clips"
    requires_auth = False

    async def get(self, request: web.Request, clip_id: str, what: str) -> web.StreamResponse:
        """The clip's video or snapshot, when the link is valid."""
        hass: HomeAssistant = request.app[KEY_HASS]
        hub = loaded_hub(hass)
        if hub is None:
            return web.Response(status=HTTPStatus.SERVICE_UNAVAILABLE)
        target = hub.signer.verify(
            clip_id, what, request.query.get("exp"), request.query.get("sig")
        )
        if target is None:
            # Not a login: a plain 401, never counted by IP banning.
            return web.Response(status=HTTPStatus.UNAUTHORIZED)
        if target is LinkTarget.LIVE:
            jpeg = await hub.live.async_frame(clip_id)
            if jpeg is None:
                return web.Response(status=HTTPStatus.NOT_FOUND)
            return web.Response(
                body=jpeg,
                content_type="image/jpeg",
                headers={"Cache-Control": "private, max-age=3600"},
            )
        try:
            state = await hub.store.get_state(clip_id)
        except StoreError as err:
            _LOGGER.warning("Cannot serve clip %s now: %s", clip_id, err)
            return web.Response(status=HTTPStatus.SERVICE_UNAVAILABLE)
        path: Path | None = None
        if state is not None:
            if target is LinkTarget.CLIP and state.clip_uri:
                path = hub.storage.local_path(state.clip_uri)
            elif target is LinkTarget.SNAPSHOT and state.snapshot_path:
                path = Path(state.snapshot_path)
        if path is None or not await hass.async_add_executor_job(_servable, path, hub.storage.root):
            return web.Response(status=HTTPStatus.NOT_FOUND)
        content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return web.FileResponse(
            path,
            headers={
                "Content-Type": content_type,
                # The link itself is the secret: never kept by shared caches.
                "Cache-Control": "private, max-age=3600",
            },
        )
