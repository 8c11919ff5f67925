"""RTSP cameras: settings from the subentry (a stream URL or an existing HA camera entity's
stream), the recording source, live motion and connection entities, recovery of recordings a
previous run could not hand over, and the unreachable repair issue.

The stream, motion and recording logic lives in core/sources/rtsp/ and core/sources/motion.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

# HA 2026 moved BinarySensorDeviceClass to binary_sensor.const and re-exports it implicitly
# (that module does not exist in 2025.4): the package import works on both lines.
from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined]
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, EntityCategory, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.entity import Entity
from homeassistant.util import dt as dt_util

from ..const import (
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
    DOMAIN,
    ISSUE_CAMERA_UNREACHABLE,
    RTSP_CLIPS_DIR,
    SUBENTRY_RTSP,
)
from ..core.media import probe_duration
from ..core.models import Clip, LiveDetection
from ..core.sources.motion import MaskRect
from ..core.sources.rtsp import SOURCE_TYPE, RtspSettings, RtspSource
from ..core.sources.rtsp.live_detect import FrameDetector
from ..entity import HomeSecCameraEntity
from ..runtime import CameraRuntime, HubRuntime, SubmitClip
from .base import CameraKind, clip_callback

_LOGGER = logging.getLogger(__name__)

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
    frame_detector: FrameDetector | None = None,
    trigger_classes: frozenset[str] = frozenset(),
    on_detection: Callable[[LiveDetection], None] | None = None,
) -> RtspSource:
    """The camera's source; raises CameraStreamError or ValueError when it cannot run.

    With a `frame_detector` (the camera's ONNX filter), the detect frames of a motion event
    are checked live and the first of `trigger_classes` seen goes to `on_detection`."""
    record_url = await async_stream_url(hass, config)
    output_dir = Path(hass.config.path(RTSP_CLIPS_DIR)) / camera_id
    settings = rtsp_settings(config, record_url, output_dir)
    return RtspSource(
        camera_id=camera_id,
        camera_name=camera_name,
        settings=settings,
        on_motion=lambda _motion: on_status(),
        on_status=on_status,
        frame_detector=frame_detector,
        trigger_classes=trigger_classes,
        on_detection=on_detection,
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
    hass: HomeAssistant, camera_id: str, camera_name: str, submit: SubmitClip
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


class RtspCameras(CameraKind):
    """One RTSP camera: HomeSec's own motion detection and pre-roll recording."""

    subentry_type: ClassVar[str] = SUBENTRY_RTSP
    owns_clip_files: ClassVar[bool] = True

    source: RtspSource | None = None

    @property
    def _camera(self) -> CameraRuntime | None:
        return self.hub.cameras.get(self.subentry_id)

    async def async_start(self, submit: SubmitClip) -> None:
        """Open the stream (its worker thread reconnects on its own), then queue recordings
        a previous run finished but could not hand over."""
        camera = self._camera
        if camera is None:
            return
        try:
            self.source = await async_build_rtsp_source(
                self.hass,
                camera_id=camera.camera_id,
                camera_name=camera.name,
                config=camera.config,
                on_status=camera.notify_status,
                frame_detector=self.hub.live_frame_detector(camera.camera_id),
                trigger_classes=camera.settings.alert.trigger_classes,
                on_detection=self.hub.async_live_detection,
            )
        except (CameraStreamError, ValueError) as err:
            camera.source_error = str(err)
            _LOGGER.warning("Camera %s cannot start: %s", camera.name, err)
            self._raise_unreachable_issue(camera, str(err))
        else:
            camera.source = self.source
            await self.source.start(clip_callback(submit))
            _LOGGER.info("Camera %s: RTSP source started", camera.name)
        camera.notify_status()  # the source exists (or gave up): availability changed
        if recovered := await async_recover_leftovers(
            self.hass, camera.camera_id, camera.name, submit
        ):
            _LOGGER.info(
                "Camera %s: queued %s recording(s) of the last run", camera.name, recovered
            )

    async def async_stop(self) -> None:
        """Stop the worker thread (a recording in progress is finished and handed over)."""
        if self.source is not None:
            await self.source.stop()
            self.source = None
        if (camera := self._camera) is not None:
            camera.source = None

    def available(self, camera: CameraRuntime) -> bool:
        """Unavailable while the stream is lost, never reached or could not start; a stream
        still connecting for the first time counts as available (nothing is known yet)."""
        source = self.source
        return source is not None and (source.connected or source.unreachable_since is None)

    @callback
    def check_health(self) -> None:
        """Refresh the last-frame time; a camera unreachable for a while raises a repair
        issue, cleared once frames arrive again."""
        camera = self._camera
        if camera is None or self.source is None:
            return
        camera.notify_status()
        since = self.source.unreachable_since
        if since is not None and dt_util.utcnow() - since >= UNREACHABLE_ISSUE_AFTER:
            self._raise_unreachable_issue(camera, self.source.last_error or "")
        elif since is None:
            ir.async_delete_issue(
                self.hass, DOMAIN, f"{ISSUE_CAMERA_UNREACHABLE}_{camera.camera_id}"
            )

    def _raise_unreachable_issue(self, camera: CameraRuntime, error: str) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{ISSUE_CAMERA_UNREACHABLE}_{camera.camera_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_CAMERA_UNREACHABLE,
            translation_placeholders={"camera": camera.name, "error": error},
        )

    def camera_entities(self, platform: Platform, camera: CameraRuntime) -> list[Entity]:
        """Motion and connection (binary sensors) and the last frame's time (sensor)."""
        if platform is Platform.BINARY_SENSOR:
            return [
                RtspMotionBinarySensor(self.hub, camera),
                RtspConnectedBinarySensor(self.hub, camera),
            ]
        if platform is Platform.SENSOR:
            return [RtspLastFrameSensor(self.hub, camera)]
        return []


class _RtspLiveEntity(HomeSecCameraEntity):
    """Follows the RTSP worker's live state (pushed from its thread to the event loop)."""

    _live = True

    @property
    def _rtsp(self) -> RtspSource | None:
        source = self.camera.source
        return source if isinstance(source, RtspSource) else None


class RtspMotionBinarySensor(_RtspLiveEntity, BinarySensorEntity):
    """Motion as HomeSec's detector sees it, live."""

    _attr_translation_key = "motion"
    _attr_device_class = BinarySensorDeviceClass.MOTION

    def __init__(self, hub: HubRuntime, camera: CameraRuntime) -> None:
        super().__init__(hub, camera, "motion")

    @property
    def is_on(self) -> bool:
        """True while motion is detected."""
        return bool(self._rtsp and self._rtsp.motion)

    @property
    def extra_state_attributes(self) -> dict[str, float]:
        """The last motion score (changed area, %)."""
        return {"score": round(self._rtsp.last_motion_score, 3) if self._rtsp else 0.0}


class RtspConnectedBinarySensor(_RtspLiveEntity, BinarySensorEntity):
    """Whether the camera's stream is connected."""

    _attr_translation_key = "connected"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _reports_health = True

    def __init__(self, hub: HubRuntime, camera: CameraRuntime) -> None:
        super().__init__(hub, camera, "connected")

    @property
    def is_on(self) -> bool:
        """True while frames arrive."""
        return bool(self._rtsp and self._rtsp.connected)

    @property
    def extra_state_attributes(self) -> dict[str, str | int | None]:
        """Last frame, last error, reconnects."""
        rtsp = self._rtsp
        if rtsp is None:
            return {"last_error": self.camera.source_error}
        return {
            "last_frame": rtsp.last_frame_time.isoformat() if rtsp.last_frame_time else None,
            "last_error": rtsp.last_error,
            "reconnects": rtsp.reconnects,
        }


class RtspLastFrameSensor(HomeSecCameraEntity, SensorEntity):
    """When the RTSP camera's last frame arrived (refreshed every 30 s and on changes)."""

    _attr_translation_key = "last_frame"
    _attr_device_class = SensorDeviceClass.TIMESTAMP
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_entity_registry_enabled_default = False
    _live = True
    _reports_health = True  # when the stream last delivered: most useful while it is down

    def __init__(self, hub: HubRuntime, camera: CameraRuntime) -> None:
        super().__init__(hub, camera, "last_frame")

    @property
    def native_value(self) -> datetime | None:
        """The last frame's time."""
        source = self.camera.source
        return source.last_frame_time if isinstance(source, RtspSource) else None
