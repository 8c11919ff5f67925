"""Running the vision model on demand: the `homesec_nvr.analyze` service action.

Three things can be analysed: a stored clip (its analysis in the history is replaced, a
`clip_reanalyzed` event is recorded and `homesec_nvr_clip_reanalyzed` fires), a video file in
an allowed folder, or a camera entity now (its current snapshot, analysed as one frame). The
hub's analyzer does the work (frames are prepared in an executor), so the usage counters and
the daily budget count these calls too. With `notify` the result goes to the hub's notifiers
as an alert.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from homeassistant.components.camera import async_get_image
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .core.interfaces import PipelineError
from .core.media import probe_duration
from .core.models import (
    Alert,
    AnalysisResult,
    Clip,
    ClipEvent,
    ClipEventType,
    ClipState,
    FilterResult,
)
from .core.payload import clip_payload
from .core.store import StoreError
from .hub import HomeSecHub
from .service_errors import failed
from .service_errors import invalid as _error

_LOGGER = logging.getLogger(__name__)

EVENT_CLIP_REANALYZED = "homesec_nvr_clip_reanalyzed"
# What the analysis is told when nothing was detected beforehand (a file, a snapshot).
_NOTHING_DETECTED = FilterResult((), {}, (), 0, "none", 0, passthrough=True)
CAMERA_IMAGE_TIMEOUT_S = 10


@dataclass(frozen=True, slots=True)
class Analysed:
    """What was analysed and the vision model's answer."""

    clip: Clip
    analysis: AnalysisResult
    state: ClipState | None  # the stored clip, as saved with its new analysis


async def async_analyze(
    hub: HomeSecHub,
    *,
    clip_id: str | None = None,
    file_path: str | None = None,
    camera_entity: str | None = None,
    notify: bool = False,
) -> Analysed:
    """Analyse a stored clip, a file or a camera's snapshot; raise translated errors."""
    if hub.vision is None:
        raise _error("vision_model_not_configured")
    if clip_id is not None:
        result = await _analyze_stored(hub, clip_id)
    elif file_path is not None:
        result = await _analyze_file(hub, file_path)
    elif camera_entity is not None:
        result = await _analyze_camera(hub, camera_entity)
    else:
        raise _error("analyze_what")
    if notify:
        await _notify(hub, result)
    return result


async def _run_model(hub: HomeSecHub, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
    assert hub.vision is not None
    try:
        return await hub.vision.analyzer.analyze(clip, filter_result)
    except PipelineError as err:
        _LOGGER.warning("Analysis of %s failed: %s", clip.clip_id, err)
        raise failed("analyze_failed", err) from err


async def _analyze_stored(hub: HomeSecHub, clip_id: str) -> Analysed:
    try:
        state = await hub.store.get_state(clip_id)
    except StoreError as err:
        raise _store_failed(err) from err
    if state is None:
        raise _error("unknown_clips", clip_ids=clip_id)
    if not state.status.finished:
        raise _error("analyze_clip_busy", clip_id=clip_id)
    path = hub.storage.local_path(state.clip_uri) if state.clip_uri else None
    if path is None or not await hub.hass.async_add_executor_job(path.is_file):
        raise _error("media_no_video", clip_id=clip_id)
    clip = Clip(
        clip_id=state.clip_id,
        camera_id=state.camera_id,
        camera_name=state.camera_name,
        source_type=state.source_type,
        path=path,
        start_ts=state.start_ts,
        end_ts=state.end_ts,
        metadata=dict(state.metadata),
    )
    began = time.monotonic()
    analysis = await _run_model(hub, clip, state.filter_result or _NOTHING_DETECTED)
    try:  # as stored now: the retention or a review may have changed it meanwhile
        state = await hub.store.get_state(clip_id) or state
    except StoreError as err:
        raise _store_failed(err) from err
    previous = state.analysis
    state.analysis, state.analysis_skipped_reason, state.vlm_done = analysis, None, True
    event = ClipEvent(
        clip_id=clip_id,
        event_type=ClipEventType.CLIP_REANALYZED,
        timestamp=dt_util.utcnow(),
        duration_ms=int((time.monotonic() - began) * 1000),
        data={
            "risk_level": analysis.risk_level.value,
            "activity_type": analysis.activity_type.value,
            "model": analysis.model,
            "prompt_tokens": analysis.prompt_tokens,
            "completion_tokens": analysis.completion_tokens,
            "previous_risk_level": previous.risk_level.value if previous else None,
        },
    )
    try:
        await hub.store.upsert_state(state)
        await hub.store.add_event(event)
    except StoreError as err:
        raise _store_failed(err) from err
    payload = clip_payload(state, hub.links_for(state))
    _show(hub, state, payload)
    hub.hass.bus.async_fire(EVENT_CLIP_REANALYZED, payload)
    return Analysed(clip, analysis, state)


def _show(hub: HomeSecHub, state: ClipState, payload: dict[str, Any]) -> None:
    """The camera's entities follow when the clip is the one they show."""
    camera = hub.cameras.get(state.camera_id)
    if camera is None:
        return
    shown = False
    if camera.last_clip is not None and camera.last_clip.clip_id == state.clip_id:
        camera.last_clip, shown = state, True
    if camera.last_finished is not None and camera.last_finished.clip_id == state.clip_id:
        camera.last_finished, camera.last_payload, shown = state, payload, True
    if shown:
        camera.notify("reanalyzed", state)  # entities refresh; no event entity fires again


def _store_failed(err: StoreError) -> HomeAssistantError:
    return failed("history_failed", err)


def _adhoc_clip(clip_id: str, name: str, path: Path, duration_s: float) -> Clip:
    now = dt_util.utcnow()
    return Clip(
        clip_id=clip_id,
        camera_id=clip_id,
        camera_name=name,
        source_type="analyze",
        path=path,
        start_ts=now,
        end_ts=now + timedelta(seconds=duration_s),
    )


async def _analyze_file(hub: HomeSecHub, file_path: str) -> Analysed:
    path = Path(file_path)
    allowed = path.is_absolute() and await hub.hass.async_add_executor_job(
        hub.hass.config.is_allowed_path, file_path
    )  # it resolves the path: file-system access
    if not allowed:
        raise _error("path_not_allowed", file_path=file_path)

    def _probe() -> float | None:
        return (probe_duration(path) or 0.0) if path.is_file() else None

    duration = await hub.hass.async_add_executor_job(_probe)
    if duration is None:
        raise _error("file_not_found", file_path=file_path)
    clip = _adhoc_clip(f"file:{path.name}", path.name, path, duration)
    return Analysed(clip, await _run_model(hub, clip, _NOTHING_DETECTED), None)


async def _analyze_camera(hub: HomeSecHub, entity_id: str) -> Analysed:
    try:
        image = await async_get_image(hub.hass, entity_id, timeout=CAMERA_IMAGE_TIMEOUT_S)
    except HomeAssistantError as err:
        raise _error("camera_image_failed", entity_id=entity_id, error=str(err)) from err
    state = hub.hass.states.get(entity_id)
    name = str(state.attributes.get("friendly_name", entity_id)) if state else entity_id
    folder = await hub.hass.async_add_executor_job(tempfile.mkdtemp, "", "homesec-analyze-")
    path = Path(folder) / "snapshot.jpg"
    try:
        await hub.hass.async_add_executor_job(path.write_bytes, image.content)
        clip = _adhoc_clip(f"camera:{entity_id}", name, path, 0.0)
        analysis = await _run_model(hub, clip, _NOTHING_DETECTED)
    finally:
        await hub.hass.async_add_executor_job(_remove, path)
    return Analysed(clip, analysis, None)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()


async def _notify(hub: HomeSecHub, result: Analysed) -> None:
    """Send the result to every notifier (a failing one is logged, the others still get it)."""
    state, clip = result.state, result.clip
    alert = Alert(
        clip_id=clip.clip_id,
        camera_id=clip.camera_id,
        camera_name=clip.camera_name,
        start_ts=clip.start_ts,
        reason="analysis requested",
        detected_classes=state.filter_result.detected_classes
        if state and state.filter_result
        else (),
        analysis=result.analysis,
        clip_path=clip.path if state else None,
        snapshot_path=Path(state.snapshot_path) if state and state.snapshot_path else None,
        clip_uri=state.clip_uri if state else None,
        snapshot_uri=state.snapshot_uri if state else None,
    )
    for notifier in hub.notifiers:
        try:
            await notifier.send(alert)
        except PipelineError as err:
            _LOGGER.warning("Notifier %s could not send the analysis: %s", notifier.name, err)
        except Exception:  # a notifier's bug must not fail the service call
            _LOGGER.exception("Notifier %s failed unexpectedly sending the analysis", notifier.name)


def analysis_response(result: Analysed) -> dict[str, Any]:
    """The service's response: the analysis, and the clip's id when it is stored."""
    return {
        **result.analysis.to_dict(),
        "clip_id": result.state.clip_id if result.state else None,
        "camera": result.clip.camera_name,
    }
