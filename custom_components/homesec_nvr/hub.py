"""The running HomeSec hub: wires the HA-free pipeline into Home Assistant.

One `HomeSecHub` per config entry (its `runtime_data`). It owns the store, the pipeline, one
source per camera subentry, the live per-camera state that entities show, the bus events,
the retention job and the repair issues.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import (
    async_call_later,
    async_track_time_change,
    async_track_time_interval,
)
from homeassistant.loader import async_get_integration
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ALERTS_ENABLED,
    CONF_FOLDER,
    CONF_NOTIFY_SERVICES,
    CONF_PERSISTENT_NOTIFICATION,
    CONF_POLL_INTERVAL_S,
    CONF_STABLE_TIME_S,
    CONF_STORAGE_PATH,
    DB_RELATIVE_PATH,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_STABLE_TIME_S,
    DOMAIN,
    EVENT_ALERT,
    EVENT_CLIP_PROCESSED,
    FILTER_FRIGATE,
    FILTER_ONNX,
    ISSUE_CAMERA_UNREACHABLE,
    ISSUE_FOLDER_UNREADABLE,
    ISSUE_ONNXRUNTIME_UNAVAILABLE,
    SUBENTRY_FRIGATE,
    SUBENTRY_LOCAL_FOLDER,
    SUBENTRY_RTSP,
)
from .core.alert_policy import AlertPolicySettings, DefaultAlertPolicy, NoopAlertPolicy
from .core.filters.frigate import FrigateDetectionFilter
from .core.filters.none import PassthroughFilter
from .core.interfaces import ClipSource, ObjectFilter
from .core.media import keyframe_jpeg
from .core.models import Alert, Clip, ClipState
from .core.payload import MediaLinks, clip_payload
from .core.retention import RetentionReport, apply_retention
from .core.runner import CameraPipelineSettings, ClipPipeline
from .core.sources.local_folder import LocalFolderSource
from .core.sources.rtsp import RtspSource
from .core.storage.local import LocalStorage
from .core.store import ClipStore
from .frigate_source import FrigateServer, frigate_camera_id
from .ha_notifier import build_ha_notifiers
from .object_filters import async_build_onnx_filter, async_ensure_onnxruntime
from .rtsp_camera import (
    UNREACHABLE_ISSUE_AFTER,
    CameraStreamError,
    async_build_rtsp_source,
    async_recover_leftovers,
)
from .settings import (
    alert_hold_seconds,
    camera_filter,
    camera_pipeline_settings,
    frigate_camera_config,
    hub_alert_settings,
    onnx_filter_settings,
    pipeline_settings,
    retention_settings,
    vlm_settings,
)
from .vision_model import VisionModel

_LOGGER = logging.getLogger(__name__)

RETENTION_INTERVAL = timedelta(hours=1)
HEALTH_INTERVAL = timedelta(seconds=30)

CameraListener = Callable[[str, ClipState], None]


@dataclass(slots=True)
class CameraRuntime:
    """Live state of one camera, shown by its device's entities.

    `camera_id` names the device and the clips; it equals the subentry id for sources with one
    camera per subentry.
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
    _listeners: list[CameraListener] = field(default_factory=list)
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


class HomeSecHub:
    """Everything HomeSec runs for one config entry."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.store = ClipStore(Path(hass.config.path(DB_RELATIVE_PATH)))
        self.storage = LocalStorage(Path(entry.data[CONF_STORAGE_PATH]))
        self.cameras: dict[str, CameraRuntime] = {}
        self._hub_listeners: list[CALLBACK_TYPE] = []
        self._camera_listeners: list[Callable[[CameraRuntime], None]] = []
        self._unsubs: list[CALLBACK_TYPE] = []
        self._passthrough = PassthroughFilter()
        self._frigate_filter = FrigateDetectionFilter()
        self._filters: dict[str, ObjectFilter] = {}
        # One worker for every camera's ONNX scans (the runner runs one filter at a time).
        self._filter_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="homesec-filter"
        )
        self.sw_version: str | None = None
        # The hub device's registry id (set at setup; camera devices are linked to it).
        self.device_id: str | None = None
        self._stopped = False
        self._retention_task: asyncio.Task[None] | None = None
        self._hub_alerts = hub_alert_settings(entry.options)
        self._camera_alerts: dict[str, AlertPolicySettings] = {}
        self.frigate_servers: dict[str, FrigateServer] = {}
        for subentry in entry.subentries.values():
            if subentry.subentry_type == SUBENTRY_FRIGATE:
                server = FrigateServer(self, subentry)
                self.frigate_servers[subentry.subentry_id] = server
                for name in server.restore_cameras():
                    camera_id = frigate_camera_id(subentry.subentry_id, name)
                    self._register_camera(
                        self.new_camera(
                            camera_id,
                            subentry.subentry_id,
                            name,
                            frigate_camera_config(subentry.data, name),
                        )
                    )
            else:
                self._register_camera(
                    self.new_camera(
                        subentry.subentry_id, subentry.subentry_id, subentry.title, subentry.data
                    )
                )
        policy = (
            DefaultAlertPolicy(self._hub_alerts, self._camera_alerts)
            if entry.options.get(CONF_ALERTS_ENABLED, True)
            else NoopAlertPolicy()
        )
        vlm = vlm_settings(entry.data, entry.options, hass.config.language)
        self.vision: VisionModel | None = (
            VisionModel(hass, vlm, self._camera_lookup, lambda: entry.async_start_reauth(hass))
            if vlm is not None
            else None
        )
        self.pipeline = ClipPipeline(
            store=self.store,
            storage=self.storage,
            filters=self._filter_for,
            vlm=self.vision.analyzer if self.vision else None,
            policy=policy,
            notifiers=build_ha_notifiers(
                hass,
                entry.options.get(CONF_NOTIFY_SERVICES, []),
                bool(entry.options.get(CONF_PERSISTENT_NOTIFICATION, True)),
                self.alert_links,
            ),
            settings=pipeline_settings(entry.options),
            camera_settings=self._camera_settings,
            snapshot=self._make_snapshot,
            listener=self,
            create_task=self.create_task,
        )

    # -- lifecycle -------------------------------------------------------------------

    async def async_start(self) -> None:
        """Open the store and restore each camera's last state (sources start later)."""
        integration = await async_get_integration(self.hass, DOMAIN)
        self.sw_version = str(integration.version) if integration.version else None
        await self.store.open()
        await self._async_build_filters()
        if self.vision is not None:
            await self.vision.async_restore_usage()
            self._unsubs.append(self.vision.usage.add_listener(self._notify_hub))
        midnight = dt_util.start_of_local_day()
        for camera in self.cameras.values():
            recent = await self.store.recent_states(camera.camera_id, 1)
            if recent:
                camera.last_clip = recent[0]
                if recent[0].status.finished:
                    camera.last_finished = recent[0]
                    camera.last_payload = clip_payload(recent[0], self.links_for(recent[0]))
                if recent[0].snapshot_path:
                    camera.snapshot_path = Path(recent[0].snapshot_path)
                    camera.snapshot_updated = recent[0].updated_at
            camera.clips_today, camera.alerts_today = await self.store.count_since(
                camera.camera_id, midnight
            )

    async def async_start_sources(self) -> None:
        """Resume unfinished clips, start every camera's source and the periodic jobs."""
        await self.pipeline.resume_unfinished()
        for camera in self.cameras.values():
            if camera.source_type == SUBENTRY_FRIGATE:
                continue
            camera.source = await self._async_build_source(camera)
            if camera.source is not None:
                await camera.source.start(self._on_clip)
            camera.notify_status()  # the source exists (or gave up): availability changed
            if camera.source_type == SUBENTRY_RTSP:
                await async_recover_leftovers(
                    self.hass, camera.camera_id, camera.name, self.pipeline.submit
                )
        for server in self.frigate_servers.values():
            await server.async_start(self._on_clip)
        self._unsubs.append(
            async_track_time_interval(
                self.hass, self._async_retention_job, RETENTION_INTERVAL, cancel_on_shutdown=True
            )
        )
        self._unsubs.append(
            async_track_time_interval(
                self.hass, self._async_check_health, HEALTH_INTERVAL, cancel_on_shutdown=True
            )
        )
        self._unsubs.append(async_track_time_change(self.hass, self._reset_daily_counters, 0, 0, 0))

    async def async_stop(self) -> None:
        """Stop sources, the pipeline and every timer; close the store. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        for camera in self.cameras.values():
            if camera._alert_off is not None:
                camera._alert_off()
                camera._alert_off = None
            if camera.source is not None:
                await camera.source.stop()
                camera.source = None
        for server in self.frigate_servers.values():
            await server.async_stop()
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention_task
        await self.pipeline.stop()
        if self.vision is not None:
            await self.vision.async_close()
        for object_filter in self._filters.values():
            await object_filter.close()
        self._filters.clear()
        await self.hass.async_add_executor_job(self._filter_executor.shutdown)
        await self.store.close()

    def create_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A long-lived task that unloading the entry cancels."""
        return self.entry.async_create_background_task(self.hass, coro, name)

    async def _async_build_source(self, camera: CameraRuntime) -> ClipSource | None:
        if camera.source_type == SUBENTRY_RTSP:
            try:
                return await async_build_rtsp_source(
                    self.hass,
                    camera_id=camera.camera_id,
                    camera_name=camera.name,
                    config=camera.config,
                    on_status=camera.notify_status,
                )
            except (CameraStreamError, ValueError) as err:
                camera.source_error = str(err)
                _LOGGER.warning("Camera %s cannot start: %s", camera.name, err)
                self._raise_unreachable_issue(camera, str(err))
                return None
        if camera.source_type == SUBENTRY_LOCAL_FOLDER:
            return LocalFolderSource(
                camera_id=camera.camera_id,
                camera_name=camera.name,
                folder=Path(camera.config[CONF_FOLDER]),
                poll_interval_s=float(
                    camera.config.get(CONF_POLL_INTERVAL_S, DEFAULT_POLL_INTERVAL_S)
                ),
                stable_time_s=float(camera.config.get(CONF_STABLE_TIME_S, DEFAULT_STABLE_TIME_S)),
                create_task=self.create_task,
            )
        _LOGGER.warning("Camera %s has unknown source type %s", camera.name, camera.source_type)
        return None

    def source_available(self, camera: CameraRuntime) -> bool:
        """False while the camera's source is down: an RTSP stream lost or never reached, or
        that could not start; a Frigate server offline or MQTT disconnected. An RTSP stream
        still connecting for the first time counts as available (nothing is known yet)."""
        if camera.source_type == SUBENTRY_RTSP:
            source = camera.source
            return isinstance(source, RtspSource) and (
                source.connected or source.unreachable_since is None
            )
        if (server := self.frigate_servers.get(camera.subentry_id)) is not None:
            return server.connected
        return True

    # -- pipeline hooks --------------------------------------------------------------

    async def _on_clip(self, clip: Clip) -> None:
        """A source finished a clip: queue it (duplicates are dropped by the store)."""
        await self.pipeline.submit(clip)

    @callback
    def counters_changed(self) -> None:
        """PipelineListener: clips queued / in flight changed."""
        self._notify_hub()

    def _camera_lookup(self, camera_id: str) -> tuple[str, dict[str, Any]] | None:
        camera = self.cameras.get(camera_id)
        return (camera.name, camera.config) if camera else None

    def _filter_for(self, camera_id: str) -> ObjectFilter:
        camera = self.cameras.get(camera_id)
        if camera is None:
            return self._passthrough
        if camera_filter(camera.config, camera.source_type) == FILTER_FRIGATE:
            return self._frigate_filter
        return self._filters.get(camera.subentry_id, self._passthrough)

    async def _async_build_filters(self) -> None:
        """Each subentry's object filter; onnxruntime is installed once, if one needs it."""
        onnx = [
            s
            for s in self.entry.subentries.values()
            if camera_filter(s.data, s.subentry_type) == FILTER_ONNX
        ]
        if not onnx:
            ir.async_delete_issue(self.hass, DOMAIN, ISSUE_ONNXRUNTIME_UNAVAILABLE)
            return
        onnxruntime_ok = await async_ensure_onnxruntime(self.hass)
        for subentry in onnx:
            settings = camera_pipeline_settings(subentry.data, self._hub_alerts, self.entry.options)
            self._filters[subentry.subentry_id] = await async_build_onnx_filter(
                self.hass,
                camera_id=subentry.subentry_id,
                camera_name=subentry.title,
                settings=functools.partial(
                    onnx_filter_settings,
                    subentry.data,
                    self.entry.options,
                    settings.alert.trigger_classes,
                ),
                executor=self._filter_executor,
                onnxruntime_ok=onnxruntime_ok,
            )

    def _camera_settings(self, camera_id: str) -> CameraPipelineSettings:
        camera = self.cameras.get(camera_id)
        return camera.settings if camera else CameraPipelineSettings()

    async def _make_snapshot(self, clip: Clip) -> bytes | None:
        return await self.hass.async_add_executor_job(keyframe_jpeg, clip.path)

    @callback
    def clip_updated(self, state: ClipState, stage: str) -> None:
        """PipelineListener: update camera state, entities and bus events."""
        camera = self.cameras.get(state.camera_id)
        if camera is not None and camera.subentry_id in self.frigate_servers:
            self.frigate_servers[camera.subentry_id].clip_updated(state, stage)
        if stage == "finished":
            payload = clip_payload(state, self.links_for(state))
            self.hass.bus.async_fire(EVENT_CLIP_PROCESSED, payload)
            if camera is not None:
                camera.last_finished = state
                camera.last_payload = payload
        if camera is None:
            self._notify_hub()
            return
        camera.last_clip = state
        if stage == "clip_recorded":
            camera.clips_today += 1
        elif stage == "objects_detected" and state.snapshot_path:
            camera.snapshot_path = Path(state.snapshot_path)
            camera.snapshot_updated = dt_util.utcnow()
        elif stage == "alert":
            camera.alerts_today += 1
            self.hass.bus.async_fire(EVENT_ALERT, clip_payload(state, self.links_for(state)))
            self._set_alert_active(camera)
        camera.notify(stage, state)
        self._notify_hub()

    def _set_alert_active(self, camera: CameraRuntime) -> None:
        if camera._alert_off is not None:
            camera._alert_off()
        camera.alert_active = True

        @callback
        def _off(_now: datetime) -> None:
            camera._alert_off = None
            camera.alert_active = False
            if camera.last_clip is not None:
                camera.notify("alert_off", camera.last_clip)

        camera._alert_off = async_call_later(
            self.hass, alert_hold_seconds(self.entry.options), _off
        )

    # -- cameras that appear while running (e.g. a Frigate camera seen first) --------

    @callback
    def add_camera_listener(self, listener: Callable[[CameraRuntime], None]) -> CALLBACK_TYPE:
        """Call `listener(camera)` for each camera added after setup; returns the remover."""
        self._camera_listeners.append(listener)

        def remove() -> None:
            self._camera_listeners.remove(listener)

        return remove

    def new_camera(
        self, camera_id: str, subentry_id: str, name: str, config: Mapping[str, Any]
    ) -> CameraRuntime:
        """A camera with its effective settings (its subentry's overrides on the hub's)."""
        subentry = self.entry.subentries.get(subentry_id)
        source_type = subentry.subentry_type if subentry else SUBENTRY_LOCAL_FOLDER
        settings = camera_pipeline_settings(config, self._hub_alerts, self.entry.options)
        if source_type in (SUBENTRY_FRIGATE, SUBENTRY_RTSP):
            # Downloaded or recorded clips are HomeSec's own files: removed once stored.
            settings = dataclasses.replace(settings, delete_source_after_store=True)
        return CameraRuntime(
            camera_id=camera_id,
            subentry_id=subentry_id,
            name=name,
            source_type=source_type,
            config=dict(config),
            settings=settings,
        )

    def _register_camera(self, camera: CameraRuntime) -> None:
        self.cameras[camera.camera_id] = camera
        self._camera_alerts[camera.camera_id] = camera.settings.alert

    @callback
    def async_forget_camera(self, camera_id: str) -> None:
        """A camera's device was deleted: drop its live state (should its source report it
        again, it comes back with a new device)."""
        self.cameras.pop(camera_id, None)
        self._camera_alerts.pop(camera_id, None)

    @callback
    def async_add_camera(self, camera: CameraRuntime) -> None:
        """Register a new camera: every platform adds its entities for it."""
        self._register_camera(camera)
        for listener in list(self._camera_listeners):
            listener(camera)

    # -- hub-level listeners (in-flight sensors) -------------------------------------

    @callback
    def add_hub_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener()` whenever pipeline counters may have changed."""
        self._hub_listeners.append(listener)

        def remove() -> None:
            self._hub_listeners.remove(listener)

        return remove

    def _notify_hub(self) -> None:
        for listener in list(self._hub_listeners):
            listener()

    # -- media links -----------------------------------------------------------------

    def _media_path(self, path: Path | None) -> tuple[str, str] | None:
        """(media dir id, relative path) when a file lies in one of HA's media folders."""
        if path is None:
            return None
        for dir_id, base in (self.hass.config.media_dirs or {}).items():
            try:
                # normpath, not resolve(): no file-system access on the event loop.
                rel = Path(os.path.normpath(path)).relative_to(os.path.normpath(base))
            except ValueError:
                continue
            return dir_id, rel.as_posix()
        return None

    def _links(self, clip_path: Path | None, snapshot_path: Path | None) -> MediaLinks:
        clip_media = self._media_path(clip_path)
        snap_media = self._media_path(snapshot_path)
        return MediaLinks(
            media_url=f"/media/{clip_media[0]}/{clip_media[1]}" if clip_media else None,
            snapshot_url=f"/media/{snap_media[0]}/{snap_media[1]}" if snap_media else None,
            media_content_id=(
                f"media-source://media_source/{clip_media[0]}/{clip_media[1]}"
                if clip_media
                else None
            ),
        )

    def links_for(self, state: ClipState) -> MediaLinks:
        """URLs under which Home Assistant serves a clip and its snapshot."""
        return self._links(
            self.storage.local_path(state.clip_uri) if state.clip_uri else None,
            Path(state.snapshot_path) if state.snapshot_path else None,
        )

    def alert_links(self, alert: Alert) -> MediaLinks:
        """Links for a notifier."""
        return self._links(alert.clip_path, alert.snapshot_path)

    # -- periodic jobs ---------------------------------------------------------------

    async def async_run_retention(self, dry_run: bool = False) -> RetentionReport:
        """Apply the retention limits now."""
        return await apply_retention(
            self.store, self.storage, retention_settings(self.entry.options), dry_run=dry_run
        )

    @callback
    def _async_retention_job(self, _now: datetime) -> None:
        if self._retention_task is not None and not self._retention_task.done():
            return
        self._retention_task = self.entry.async_create_background_task(
            self.hass, self._async_retention(), "homesec retention"
        )

    async def _async_retention(self) -> None:
        if stored := await self.pipeline.retry_failed_uploads():
            _LOGGER.info("Stored %s clip(s) whose upload had failed", stored)
        report = await self.async_run_retention()
        if report.clips:
            _LOGGER.info(
                "Retention deleted %s clip(s), freed %.1f MB",
                len(report.clips),
                report.bytes_freed / 1e6,
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

    @callback
    def _async_check_health(self, _now: datetime | None = None) -> None:
        for camera in self.cameras.values():
            if isinstance(camera.source, RtspSource):
                camera.notify_status()  # refreshes the last-frame time
                since = camera.source.unreachable_since
                if since is not None and dt_util.utcnow() - since >= UNREACHABLE_ISSUE_AFTER:
                    self._raise_unreachable_issue(camera, camera.source.last_error or "")
                elif since is None:
                    ir.async_delete_issue(
                        self.hass, DOMAIN, f"{ISSUE_CAMERA_UNREACHABLE}_{camera.camera_id}"
                    )
        for camera in self.cameras.values():
            source = camera.source
            if not isinstance(source, LocalFolderSource):
                continue
            issue_id = f"{ISSUE_FOLDER_UNREADABLE}_{camera.camera_id}"
            if source.healthy:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            else:
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
                        "error": source.last_error or "",
                    },
                )

    @callback
    def _reset_daily_counters(self, _now: datetime) -> None:
        for camera in self.cameras.values():
            camera.clips_today = 0
            camera.alerts_today = 0
            if camera.last_clip is not None:
                camera.notify("daily_reset", camera.last_clip)


type HomeSecConfigEntry = ConfigEntry[HomeSecHub]
