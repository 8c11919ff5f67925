"""The frames of one analysis as media-source items, for AI Task attachments.

AI Task takes attachments as media-source ids and hands the AI Task entity a file path
(`PlayMedia.path`). The frames HomeSec picked are written to a private temporary folder (in a
worker thread), served as `media-source://homesec_nvr/vlm_frames/<token>/<n>.jpg` by HomeSec's
media source while the task runs, and deleted right after. Nothing lands in the user's media
folders, and an id is useless once its analysis is over.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from homeassistant.components.media_source import PlayMedia
from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

FRAMES_PREFIX = "vlm_frames/"
JPEG = "image/jpeg"

_DATA: HassKey[dict[str, tuple[Path, ...]]] = HassKey(f"{DOMAIN}_vlm_frames")


def _write(frames: Sequence[bytes]) -> tuple[Path, ...]:
    """Blocking: the frames as files in a new private folder."""
    folder = Path(tempfile.mkdtemp(prefix="homesec-vlm-"))
    paths = []
    for index, jpeg in enumerate(frames, start=1):
        path = folder / f"{index}.jpg"
        path.write_bytes(jpeg)
        paths.append(path)
    return tuple(paths)


@asynccontextmanager
async def async_frame_attachments(
    hass: HomeAssistant, frames: Sequence[bytes]
) -> AsyncIterator[list[dict[str, str]]]:
    """AI Task attachments of `frames` (JPEG bytes), valid inside the block."""
    paths = await hass.async_add_executor_job(_write, frames)
    token = secrets.token_urlsafe(16)
    registry = hass.data.setdefault(_DATA, {})
    registry[token] = paths
    try:
        yield [
            {
                "media_content_id": f"media-source://{DOMAIN}/{FRAMES_PREFIX}{token}/{path.name}",
                "media_content_type": JPEG,
            }
            for path in paths
        ]
    finally:
        registry.pop(token, None)
        if paths:
            await hass.async_add_executor_job(
                lambda: shutil.rmtree(paths[0].parent, ignore_errors=True)
            )


def resolve_frame(hass: HomeAssistant, identifier: str) -> PlayMedia | None:
    """The frame an identifier names while its analysis runs; None for other identifiers.

    Raises KeyError for a frame identifier that is not (or no longer) served.
    """
    if not identifier.startswith(FRAMES_PREFIX):
        return None
    token, _, name = identifier.removeprefix(FRAMES_PREFIX).partition("/")
    for path in hass.data.get(_DATA, {}).get(token, ()):
        if path.name == name:
            return PlayMedia(f"/{DOMAIN}/{identifier}", JPEG, path=path)
    raise KeyError(identifier)
