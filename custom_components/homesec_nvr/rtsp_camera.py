"""RTSP cameras in Home Assistant: settings from the subentry (a stream URL or an existing HA
camera entity's stream), live motion and connection state, and the unreachable repair issue.

The stream, motion and recording logic lives in core/sources/rtsp.py and core/sources/motion.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .const import (
    CONF_CAMERA_ENTITY,
    CONF_DETECT_FPS,
    CONF_DETECT_URL,
    CONF_DETECT_WIDTH,
    CONF_MASKS,
    CONF_MAX_CLIP_S,
    CONF_MIN_AREA_PERCENT,
    CONF_MIN_CLIP_S,
    CONF_MOTION_THRESHOLD,
    CONF_POST_ROLL_S,
    CONF_PRE_ROLL_S,
    CONF_STREAM_URL,
    RTSP_CLIPS_DIR,
)
from .core.media import probe_duration
from .core.models import Clip
from .core.sources.motion import MaskRect
from .core.sources.rtsp import SOURCE_TYPE, RtspSettings, RtspSource

# A camera unreachable for longer than this raises a repair issue.
UNREACHABLE_ISSUE_AFTER = timedelta(minutes=5)


class CameraStreamError(Exception):
    """The camera's stream URL cannot be found; `reason` is a form error key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def parse_masks(text: str | None) -> tuple[MaskRect, ...]:
    """Masks as `x,y,w,h` in percent of the frame, separated by `;` (e.g. `0,0,100,8`).

    Raises ValueError with a message naming the bad mask.
    """
    masks: list[MaskRect] = []
    for part in (text or "").replace("\n", ";").split(";"):
        if not part.strip():
            continue
        try:
            x, y, w, h = (float(v) / 100.0 for v in part.split(","))
            masks.append(MaskRect(x, y, w, h))
        except ValueError as err:
            raise ValueError(f"mask {part.strip()!r}: expected x,y,w,h in percent") from err
    return tuple(masks)


async def async_stream_url(hass: HomeAssistant, config: Mapping[str, Any]) -> str:
    """The record stream: the configured URL, or the stream source of an HA camera entity."""
    if url := str(config.get(CONF_STREAM_URL) or "").strip():
        return url
    entity_id = config.get(CONF_CAMERA_ENTITY)
    # Imported here: only RTSP cameras built on a camera entity need the camera integration.
    from homeassistant.components.camera import async_get_stream_source

    if not entity_id:
        raise CameraStreamError("stream_required", "enter a stream URL or pick a camera entity")
    try:
        source = await async_get_stream_source(hass, str(entity_id))
    except HomeAssistantError as err:
        raise CameraStreamError("camera_has_no_stream", str(err)) from err
    if not source or not source.lower().startswith(("rtsp://", "rtsps://")):
        raise CameraStreamError("camera_has_no_stream", f"{entity_id} has no RTSP stream source")
    return source


def rtsp_settings(config: Mapping[str, Any], record_url: str, output_dir: Path) -> RtspSettings:
    """RtspSettings from a subentry (raises ValueError for values out of range)."""
    defaults = RtspSettings(record_url="rtsp://localhost/", output_dir=output_dir)
    return RtspSettings(
        record_url=record_url,
        output_dir=output_dir,
        detect_url=str(config.get(CONF_DETECT_URL) or "").strip() or None,
        username=config.get(CONF_USERNAME) or None,
        password=config.get(CONF_PASSWORD) or None,
        detect_fps=float(config.get(CONF_DETECT_FPS, defaults.detect_fps)),
        detect_width=int(config.get(CONF_DETECT_WIDTH, defaults.detect_width)),
        motion_threshold=int(config.get(CONF_MOTION_THRESHOLD, defaults.motion_threshold)),
        min_area_percent=float(config.get(CONF_MIN_AREA_PERCENT, defaults.min_area_percent)),
        masks=parse_masks(config.get(CONF_MASKS)),
        pre_roll_s=float(config.get(CONF_PRE_ROLL_S, defaults.pre_roll_s)),
        post_roll_s=float(config.get(CONF_POST_ROLL_S, defaults.post_roll_s)),
        max_clip_s=float(config.get(CONF_MAX_CLIP_S, defaults.max_clip_s)),
        min_clip_s=float(config.get(CONF_MIN_CLIP_S, defaults.min_clip_s)),
    )


async def async_build_rtsp_source(
    hass: HomeAssistant,
    *,
    camera_id: str,
    camera_name: str,
    config: Mapping[str, Any],
    on_status: Callable[[], None],
) -> RtspSource:
    """The camera's source; raises CameraStreamError or ValueError when it cannot run."""
    record_url = await async_stream_url(hass, config)
    output_dir = Path(hass.config.path(RTSP_CLIPS_DIR)) / camera_id
    settings = rtsp_settings(config, record_url, output_dir)
    return RtspSource(
        camera_id=camera_id,
        camera_name=camera_name,
        settings=settings,
        on_motion=lambda _motion: on_status(),
        on_status=on_status,
    )


def _leftover_clips(folder: Path, camera_id: str, camera_name: str) -> list[Clip]:
    """Blocking: finished recordings still in the camera's work folder (not handed over)."""
    clips: list[Clip] = []
    try:
        files = sorted(p for p in folder.glob("*.mp4") if not p.name.startswith("."))
    except OSError:
        return clips
    for path in files:
        try:
            end_ts = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        except OSError:
            continue
        duration = probe_duration(path) or 0.0
        clips.append(
            Clip(
                clip_id=path.stem,
                camera_id=camera_id,
                camera_name=camera_name,
                source_type=SOURCE_TYPE,
                path=path,
                start_ts=end_ts - timedelta(seconds=duration),
                end_ts=end_ts,
                metadata={"duration_s": round(duration, 3), "recovered": True},
            )
        )
    return clips


async def async_recover_leftovers(
    hass: HomeAssistant,
    camera_id: str,
    camera_name: str,
    submit: Callable[[Clip], Awaitable[bool]],
) -> int:
    """Queue recordings a previous run finished but could not hand over (nothing is lost).

    Clips the store already knows are skipped by `submit` (their ids are the file names).
    """
    folder = Path(hass.config.path(RTSP_CLIPS_DIR)) / camera_id
    clips = await hass.async_add_executor_job(_leftover_clips, folder, camera_id, camera_name)
    queued = 0
    for clip in clips:
        if await submit(clip):
            queued += 1
    return queued
