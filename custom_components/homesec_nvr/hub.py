"""The running HomeSec hub: wires the HA-free pipeline into Home Assistant.

One `HomeSecHub` per config entry (its `runtime_data`). It owns the store, the pipeline, one
camera kind per camera subentry (cameras/: sources, health, extra entities), the live
per-camera state that entities show, the bus events, the retention job and the hub's repair
issues. It knows camera kinds only through `CameraKind`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState, ConfigSubentry
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import (
    async_call_later,
    async_track_time_change,
    async_track_time_interval,
)
from homeassistant.loader import async_get_integration
from homeassistant.util import dt as dt_util

from .cameras import CAMERA_KINDS, CameraKind
from .const import (
    CONF_ALERTS_ENABLED,
    CONF_CAMERA_GROUPS,
    CONF_GROUP_WINDOW_S,
    CONF_INCIDENT_GAP_S,
    CONF_LINK_SECRET,
    CONF_NOTIFY_SERVICES,
    CONF_PERSISTENT_NOTIFICATION,
    CONF_STORAGE_PATH,
    DB_RELATIVE_PATH,
    DEFAULT_GROUP_WINDOW_S,
    DEFAULT_INCIDENT_GAP_S,
    DOMAIN,
    EVENT_ALERT,
    EVENT_CLIP_PROCESSED,
    FILTER_FRIGATE,
    FILTER_ONNX,
    ISSUE_ONNXRUNTIME_UNAVAILABLE,
    REVIEW_ACTION_PREFIX,
    SNOOZE_ACTION_MINUTES,
    SNOOZE_ACTION_PREFIX,
)
from .core.alert_policy import AlertPolicySettings, DefaultAlertPolicy, NoopAlertPolicy
from .core.camera_groups import parse_camera_groups
from .core.filters.frigate import FrigateDetectionFilter
from .core.filters.none import PassthroughFilter
from .core.filters.onnx import OnnxObjectFilter
from .core.grouping import EventGrouper
from .core.incident_batches import IncidentSettings
from .core.interfaces import ObjectFilter
from .core.links import LinkSigner, LinkTarget
from .core.media import keyframe_jpeg
from .core.models import Alert, AlertStage, Clip, ClipState, LiveDetection
from .core.payload import MediaLinks, clip_payload
from .core.retention import RetentionReport, apply_retention
from .core.runner import CameraPipelineSettings, ClipPipeline
from .core.sources.rtsp.live_detect import FrameDetector
from .core.storage.local import LocalStorage
from .core.store import ClipStore, StoreError
from .core.supervisor import SupervisedTask, TaskSupervisor
from .ha_email import build_email_notifiers
from .ha_mqtt import MqttAlertNotifier, async_publish_analysis, mqtt_settings
from .ha_notifier import AlertWordsSource, build_ha_notifiers
from .ha_offsite import OffsiteGlue
from .health import HubHealth
from .live import HomeSecLive
from .object_filters import ReportingFilter, async_build_onnx_filter, async_ensure_onnxruntime
from .review import async_review_from_notification
from .runtime import CameraRuntime
from .settings import (
    alert_hold_seconds,
    camera_filter,
    camera_pipeline_settings,
    hub_alert_settings,
    link_expiry_seconds,
    onnx_filter_settings,
    pipeline_settings,
    retention_settings,
    vlm_ai_task_entity,
    vlm_backend,
    vlm_settings,
)
from .subentry_changes import EntrySnapshot
from .vision_model import VisionModel

_LOGGER = logging.getLogger(__name__)

RETENTION_INTERVAL = timedelta(hours=1)
HEALTH_INTERVAL = timedelta(seconds=30)
# Fired by the Home Assistant companion apps when a notification's action button is pressed.
EVENT_NOTIFICATION_ACTION = "mobile_app_notification_action"


class HomeSecHub:
    """Everything HomeSec runs for one config entry."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.store = ClipStore(Path(hass.config.path(DB_RELATIVE_PATH)))
        self.storage = LocalStorage(
            Path(entry.data[CONF_STORAGE_PATH]), time_zone=dt_util.get_default_time_zone
        )
        # The off-site copy (Dropbox): a stage beside the pipeline, never blocking alerts.
        self.offsite = OffsiteGlue(hass, entry, self.store, self.storage, self._notify_hub)
        # Signs the clip and snapshot links that leave Home Assistant (views.py serves them).
        self.signer = LinkSigner(entry.data[CONF_LINK_SECRET])
        # Long-lived source loops: restarted with backoff when they die (health.py reports).
        self.supervisor = TaskSupervisor(
            create_task=self.create_task, on_change=lambda task: self._task_changed(task)
        )
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
        # One camera kind per camera subentry (keyed by subentry id).
        self.kinds: dict[str, CameraKind] = {}
        self._kind_listeners: list[Callable[[CameraKind], None]] = []
        for subentry in entry.subentries.values():
            if (kind := self._new_kind(subentry)) is not None:
                for camera in self._kind_cameras(kind):
                    self._register_camera(camera)
        # What the entry looked like when the hub started (a camera added later starts live).
        self.entry_snapshot = EntrySnapshot.of(entry)
        self.alert_policy: DefaultAlertPolicy | None = (
            DefaultAlertPolicy(self._hub_alerts, self._camera_alerts)
            if entry.options.get(CONF_ALERTS_ENABLED, True)
            else None
        )
        policy = self.alert_policy or NoopAlertPolicy()
        vlm = vlm_settings(entry.data, entry.options, hass.config.language)
        self.mqtt = mqtt_settings(entry.options)
        self.vision: VisionModel | None = (
            VisionModel(
                hass,
                vlm,
                self._camera_lookup,
                lambda: entry.async_start_reauth(hass),
                backend=vlm_backend(entry.options),
                ai_task_entity=vlm_ai_task_entity(entry.options),
            )
            if vlm is not None
            else None
        )
        # The notifications' texts, in Home Assistant's language.
        self.alert_words = AlertWordsSource(hass)
        words = self.alert_words.async_get
        notifiers = [
            *build_ha_notifiers(
                hass,
                entry.options.get(CONF_NOTIFY_SERVICES, []),
                bool(entry.options.get(CONF_PERSISTENT_NOTIFICATION, True)),
                self.alert_links,
                words,
            ),
            *([MqttAlertNotifier(hass, self.mqtt, self.alert_links, words)] if self.mqtt else []),
            *build_email_notifiers(hass, entry.options, entry.data, self.alert_links, words),
        ]
        # Clips of sources that do not name events join the previous clip's within the window.
        # Cameras of one group (an area) share incidents: one notification, updated.
        self.grouper = EventGrouper(
            lambda _camera_id: float(
                entry.options.get(CONF_GROUP_WINDOW_S, DEFAULT_GROUP_WINDOW_S)
            ),
            group_of=self._camera_group,
            gap_s=lambda: float(entry.options.get(CONF_INCIDENT_GAP_S, DEFAULT_INCIDENT_GAP_S)),
        )
        # Also used by the analyze service action (its `notify`).
        self.notifiers = notifiers
        # An event's first alert, the moment a live source sees a trigger object.
        self.live = HomeSecLive(
            hass,
            entry,
            cameras=self.cameras,
            signer=self.signer,
            link_ttl_s=lambda: link_expiry_seconds(entry.options),
            policy=policy,
            notifiers=notifiers,
            memory=self.store,
        )
        self.pipeline = ClipPipeline(
            store=self.store,
            storage=self.storage,
            filters=self._filter_for,
            vlm=self.vision.analyzer if self.vision else None,
            policy=policy,
            notifiers=notifiers,
            settings=pipeline_settings(entry.options),
            camera_settings=self._camera_settings,
            snapshot=self._make_snapshot,
            listener=self,
            create_task=self.create_task,
            live=self.live.alerts,
            # A group's incident is analysed once: its clips wait up to the gap for the rest.
            incidents=IncidentSettings(
                group_of=self._camera_group,
                group_cameras=self._group_cameras,
                wait_s=lambda: float(
                    entry.options.get(CONF_INCIDENT_GAP_S, DEFAULT_INCIDENT_GAP_S)
                ),
            ),
        )
        self.health = HubHealth(
            hass,
            entry,
            storage=self.storage,
            pipeline=lambda: self.pipeline,
            supervisor=self.supervisor,
            changed=self._health_changed,
            storage_back=self._async_storage_back,
        )
        self._health_task: asyncio.Task[None] | None = None
        self._failing_notifiers: set[str] = set()
        # Registered before the store opens: a damaged file found at open is reported too.
        self._unsubs.append(self.store.add_recovery_listener(self.health.async_store_recovered))

    # -- lifecycle -------------------------------------------------------------------

    async def async_start(self) -> None:
        """Open the store and restore each camera's last state (sources start later)."""
        integration = await async_get_integration(self.hass, DOMAIN)
        self.sw_version = str(integration.version) if integration.version else None
        await self.alert_words.async_get()
        await self.store.open()
        await self.live.async_start()
        await self._async_build_filters()
        if self.vision is not None:
            await self.vision.async_restore_usage()
            self._unsubs.append(self.vision.usage.add_listener(self._notify_hub))
        for camera in self.cameras.values():
            await self._async_restore_camera(camera)

    async def _async_restore_camera(self, camera: CameraRuntime) -> None:
        """A camera's last clip and today's counters, from the store."""
        recent = await self.store.recent_states(camera.camera_id, 1)
        if recent:
            # Its event (a camera group's incident) goes on across the restart.
            self.grouper.restore(recent[0].to_clip())
            camera.last_clip = recent[0]
            if recent[0].status.finished:
                camera.last_finished = recent[0]
                camera.last_payload = clip_payload(recent[0], self.links_for(recent[0]))
            snapshot = Path(recent[0].snapshot_path) if recent[0].snapshot_path else None
            # A snapshot deleted meanwhile (retention) is not offered as a picture.
            if snapshot is not None and await self.hass.async_add_executor_job(snapshot.is_file):
                camera.snapshot_path = snapshot
                camera.snapshot_updated = recent[0].updated_at
        camera.clips_today, camera.alerts_today = await self.store.count_since(
            camera.camera_id, dt_util.start_of_local_day()
        )

    async def async_start_sources(self) -> None:
        """Resume unfinished clips, start every camera's source and the periodic jobs."""
        try:
            # The grouper learns the resumed clips' incidents: the group's next clips join them.
            await self.pipeline.resume_unfinished(self.grouper.restore)
        except StoreError as err:
            # The clip database stayed busy past the pipeline's deadline: the unfinished clips
            # stay recorded and resume at the next start; new clips still come in.
            _LOGGER.warning("Unfinished clips not resumed now (clip database busy): %s", err)
        for kind in self.kinds.values():
            await kind.async_start(self._async_submit)
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
        self._unsubs.append(
            self.hass.bus.async_listen(EVENT_NOTIFICATION_ACTION, self._async_notification_action)
        )
        self._async_check_health()
        await self.offsite.async_start()

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
        self.live.async_stop()
        # Each part is stopped even when one before it fails: nothing is left running.
        for name, stop in self._stop_steps():
            try:
                await stop()
            except Exception:
                _LOGGER.exception("Stopping HomeSec's %s failed; the rest is stopped", name)

    def _stop_steps(self) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
        """What unloading stops, in order (sources first, the store last)."""
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (f"camera {kind.title}", kind.async_stop) for kind in self.kinds.values()
        ]
        steps += [
            ("background tasks", self.supervisor.stop_all),
            ("periodic jobs", self._async_cancel_jobs),
            ("pipeline", self.pipeline.stop),
        ]
        if self.vision is not None:
            steps.append(("vision model", self.vision.async_close))
        steps += [(f"object filter {k}", f.close) for k, f in self._filters.items()]
        steps += [
            ("object filter thread", self._async_close_filter_executor),
            ("off-site copy", self.offsite.async_stop),
            ("clip database", self.store.close),
        ]
        return steps

    async def _async_cancel_jobs(self) -> None:
        for task in (self._retention_task, self._health_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.health.async_clear()

    async def _async_close_filter_executor(self) -> None:
        self._filters.clear()
        await self.hass.async_add_executor_job(self._filter_executor.shutdown)

    def _camera_group(self, camera_id: str) -> str | None:
        """The camera's group in the `camera_groups` option (None: in none)."""
        return self._camera_groups().get(camera_id)

    def _group_cameras(self, group: str) -> list[str]:
        """The ids of a group's cameras."""
        return [camera_id for camera_id, name in self._camera_groups().items() if name == group]

    def _camera_groups(self) -> Mapping[str, str]:
        text = str(self.entry.options.get(CONF_CAMERA_GROUPS) or "")
        if not text:
            return {}
        names = {cid: cam.name for cid, cam in self.cameras.items()}
        return parse_camera_groups(text, names).group_of

    async def _async_submit(self, clip: Clip) -> bool:
        """A source's clip: into its event (the group window), then into the pipeline."""
        self.grouper.assign(clip)
        return await self.pipeline.submit(clip)

    def create_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A long-lived task that unloading the entry cancels."""
        return self.entry.async_create_background_task(self.hass, coro, name)

    async def has_clip(self, clip_id: str) -> bool:
        """Whether the store already knows this clip."""
        return await self.store.has_clip(clip_id)

    # -- pipeline hooks --------------------------------------------------------------

    @callback
    def counters_changed(self) -> None:
        """PipelineListener: clips queued / in flight (or a notifier's health) changed."""
        failing = set(self.pipeline.notifier_failures)
        if failing != self._failing_notifiers:
            self._failing_notifiers = failing
            self.health.async_update_issues()
        self._notify_hub()

    def _camera_lookup(self, camera_id: str) -> tuple[str, dict[str, Any]] | None:
        camera = self.cameras.get(camera_id)
        return (camera.name, camera.config) if camera else None

    def _filter_for(self, camera_id: str) -> ObjectFilter:
        camera = self.cameras.get(camera_id)
        if camera is None:
            return self._passthrough
        kind = self.kinds.get(camera.subentry_id)
        default = kind.default_filter if kind is not None else FILTER_FRIGATE
        if camera_filter(camera.config, default) == FILTER_FRIGATE:
            return self._frigate_filter
        return self._filters.get(camera.subentry_id, self._passthrough)

    async def _async_build_filters(self, only: Collection[str] | None = None) -> None:
        """Each subentry's object filter (or only those of the `only` subentry ids);
        onnxruntime is installed once, if one needs it."""
        onnx = [
            s
            for s in self.entry.subentries.values()
            if s.subentry_id in self.kinds
            and (only is None or s.subentry_id in only)
            and camera_filter(s.data, self.kinds[s.subentry_id].default_filter) == FILTER_ONNX
        ]
        if not onnx:
            if only is None:
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
        _LOGGER.debug(
            "Clip %s of %s: %s (%s)", state.clip_id, state.camera_name, stage, _stage_detail(state)
        )
        camera = self.cameras.get(state.camera_id)
        if camera is not None and (kind := self.kinds.get(camera.subentry_id)) is not None:
            kind.clip_updated(state, stage)
        if stage == "finished":
            self.offsite.clip_finished()
            payload = clip_payload(state, self.links_for(state))
            self.hass.bus.async_fire(EVENT_CLIP_PROCESSED, payload)
            if camera is not None:
                camera.last_finished = state
                camera.last_payload = payload
            if self.mqtt is not None and not self._stopped:
                self.entry.async_create_background_task(
                    self.hass,
                    async_publish_analysis(self.hass, self.mqtt, state.camera_name, payload),
                    f"homesec mqtt analysis {state.clip_id}",
                )
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

    # -- snooze (service action and the notifications' action button) -----------------

    @callback
    def async_snooze(self, camera_id: str, minutes: float) -> datetime | None:
        """Hold back a camera's alerts for `minutes` (0 ends a snooze); returns the end."""
        if self.alert_policy is None:
            return None
        until = dt_util.utcnow() + timedelta(minutes=minutes) if minutes > 0 else None
        self.alert_policy.snooze(camera_id, until)
        camera = self.cameras.get(camera_id)
        _LOGGER.info(
            "Camera %s: alerts %s",
            camera.name if camera else camera_id,
            f"snoozed until {until.isoformat(timespec='minutes')}" if until else "on again",
        )
        return until

    @callback
    def _async_notification_action(self, event: Event[dict[str, Any]]) -> None:
        """The companion app's "Snooze 1 h" or "Mark reviewed" button of our notifications."""
        action = str(event.data.get("action", ""))
        if action.startswith(SNOOZE_ACTION_PREFIX):
            camera_id = action.removeprefix(SNOOZE_ACTION_PREFIX)
            if camera_id in self.cameras:
                self.async_snooze(camera_id, SNOOZE_ACTION_MINUTES)
        elif action.startswith(REVIEW_ACTION_PREFIX) and not self._stopped:
            clip_id = action.removeprefix(REVIEW_ACTION_PREFIX)
            self.entry.async_create_task(
                self.hass,
                async_review_from_notification(self, clip_id),
                f"homesec review {clip_id}",
            )

    # -- camera subentries added while running ----------------------------------------

    def _new_kind(self, subentry: ConfigSubentry) -> CameraKind | None:
        kind_type = CAMERA_KINDS.get(subentry.subentry_type)
        if kind_type is None:
            _LOGGER.warning(
                "Camera %s has unknown type %s: skipped", subentry.title, subentry.subentry_type
            )
            return None
        kind = kind_type(self, subentry)
        self.kinds[subentry.subentry_id] = kind
        return kind

    def _kind_cameras(self, kind: CameraKind) -> list[CameraRuntime]:
        return [
            self.new_camera(spec.camera_id, kind.subentry_id, spec.name, spec.config)
            for spec in kind.restore_cameras()
        ]

    def _has_stopped(self) -> bool:
        """Whether the hub stopped (read fresh after an await, which may have stopped it)."""
        return self._stopped

    async def async_add_subentries(self, subentries: list[ConfigSubentry]) -> None:
        """Start camera subentries added while running, without touching the others: their
        filters, entities (the platforms add them) and sources."""
        self.entry_snapshot = EntrySnapshot.of(self.entry)
        kinds = [kind for subentry in subentries if (kind := self._new_kind(subentry))]
        await self._async_build_filters({kind.subentry_id for kind in kinds})
        for kind in kinds:
            if self._stopped:
                return  # unloaded meanwhile: the next setup starts the camera
            _LOGGER.info("Camera %s added: starting it", kind.title)
            for listener in list(self._kind_listeners):
                listener(kind)
            for camera in self._kind_cameras(kind):
                try:
                    await self._async_restore_camera(camera)
                except StoreError as err:
                    if self._has_stopped():
                        return
                    _LOGGER.warning(
                        "Camera %s starts without its last clip and today's counts: %s",
                        camera.name,
                        err,
                    )
                self.async_add_camera(camera)
            if not self._stopped:
                await kind.async_start(self.pipeline.submit)
        self._async_check_health()

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
        kind = self.kinds[subentry_id]
        settings = camera_pipeline_settings(config, self._hub_alerts, self.entry.options)
        if kind.owns_clip_files:
            # Downloaded or recorded clips are HomeSec's own files: removed once stored.
            settings = dataclasses.replace(settings, delete_source_after_store=True)
        camera = CameraRuntime(
            camera_id=camera_id,
            subentry_id=subentry_id,
            name=name,
            source_type=kind.subentry_type,
            config=dict(config),
            settings=settings,
        )
        camera.is_available = functools.partial(kind.available, camera)
        return camera

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

    # -- entities of the camera kinds ------------------------------------------------

    def camera_entities(self, platform: Platform, camera: CameraRuntime) -> list[Entity]:
        """The extra entities a camera's kind gives it on a platform."""
        kind = self.kinds.get(camera.subentry_id)
        return kind.camera_entities(platform, camera) if kind is not None else []

    @callback
    def async_add_kind_entities(
        self, platform: Platform, async_add_entities: AddConfigEntryEntitiesCallback
    ) -> None:
        """Add each kind's own entities on a platform (e.g. a Frigate server's health), now
        and for kinds added later."""

        @callback
        def add(kind: CameraKind) -> None:
            if entities := kind.entities(platform):
                async_add_entities(entities, config_subentry_id=kind.subentry_id)

        for kind in self.kinds.values():
            add(kind)
        self._kind_listeners.append(add)
        self.entry.async_on_unload(lambda: self._kind_listeners.remove(add))

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

    def _media_content_id(self, path: Path | None) -> str | None:
        """The media-source id of a file in one of HA's media folders (the media browser)."""
        if path is None:
            return None
        for dir_id, base in (self.hass.config.media_dirs or {}).items():
            try:
                # normpath, not resolve(): no file-system access on the event loop.
                rel = Path(os.path.normpath(path)).relative_to(os.path.normpath(base))
            except ValueError:
                continue
            return f"media-source://media_source/{dir_id}/{rel.as_posix()}"
        return None

    def _links(
        self, clip_id: str, clip_path: Path | None, snapshot_path: Path | None
    ) -> MediaLinks:
        """Signed, expiring links (they open without a login, see views.py)."""
        ttl = link_expiry_seconds(self.entry.options)
        return MediaLinks(
            media_url=(
                self.signer.link(clip_id, LinkTarget.CLIP, ttl) if clip_path is not None else None
            ),
            snapshot_url=(
                self.signer.link(clip_id, LinkTarget.SNAPSHOT, ttl)
                if snapshot_path is not None
                else None
            ),
            media_content_id=self._media_content_id(clip_path),
        )

    def links_for(self, state: ClipState) -> MediaLinks:
        """Links to a stored clip and its snapshot."""
        return self._links(
            state.clip_id,
            self.storage.local_path(state.clip_uri) if state.clip_uri else None,
            Path(state.snapshot_path) if state.snapshot_path else None,
        )

    def alert_links(self, alert: Alert) -> MediaLinks:
        """Links for a notifier (a live alert links to the frame it was seen on)."""
        if alert.stage is AlertStage.DETECTED:
            return self.live.links(alert.event_key)
        return self._links(alert.clip_id, alert.clip_path, alert.snapshot_path)

    # -- live detections ---------------------------------------------------------------

    @callback
    def async_live_detection(
        self,
        detection: LiveDetection,
        fetch_snapshot: Callable[[], Awaitable[bytes | None]] | None = None,
    ) -> None:
        """A source saw a trigger object live, before the event's clip exists."""
        self.live.async_report(detection, fetch_snapshot)

    def live_frame_detector(self, camera_id: str) -> FrameDetector | None:
        """The camera's ONNX filter on one frame, when it has one (live detection)."""
        camera = self.cameras.get(camera_id)
        found = self._filters.get(camera.subentry_id) if camera is not None else None
        inner = found.inner if isinstance(found, ReportingFilter) else found
        return inner.detect_frame_blocking if isinstance(inner, OnnxObjectFilter) else None

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
        await self._async_store_unstored("whose upload had failed")
        try:
            report = await self.async_run_retention()
        except StoreError as err:
            # The clip database is busy or full: the next hourly run catches up.
            _LOGGER.warning("Retention postponed to the next run: %s", err)
            return
        if report.clips:
            _LOGGER.info(
                "Retention deleted %s clip(s), freed %.1f MB",
                len(report.clips),
                report.bytes_freed / 1e6,
            )

    @callback
    def _async_check_health(self, _now: datetime | None = None) -> None:
        for kind in self.kinds.values():
            kind.check_health()
        if self._health_task is None or self._health_task.done():
            self._health_task = self.entry.async_create_background_task(
                self.hass, self.health.async_check(), "homesec health check"
            )

    async def async_wait_health_check(self) -> None:
        """Wait for the health check under way, if any (tests, diagnostics)."""
        if self._health_task is not None and not self._health_task.done():
            await asyncio.shield(self._health_task)

    @callback
    def _task_changed(self, task: SupervisedTask) -> None:
        """A supervised task died or runs stably again: cameras, sensor and issues follow."""
        self.health.async_task_changed(task)
        for camera in self.cameras.values():
            camera.notify_status()

    @callback
    def _health_changed(self) -> None:
        self._notify_hub()

    @callback
    def _async_storage_back(self) -> None:
        """The storage folder is back: store the clips that could not be stored meanwhile."""
        self.entry.async_create_background_task(
            self.hass, self._async_store_waiting_clips(), "homesec store waiting clips"
        )

    async def _async_store_waiting_clips(self) -> None:
        await self._async_store_unstored("that waited for the storage folder")

    async def _async_store_unstored(self, which: str) -> None:
        """Store the clips whose upload had failed; a busy store waits for the next try."""
        try:
            if stored := await self.pipeline.retry_failed_uploads():
                _LOGGER.info("Stored %s clip(s) %s", stored, which)
        except StoreError as err:
            _LOGGER.warning("Clips whose upload failed are stored later: %s", err)

    @callback
    def _reset_daily_counters(self, _now: datetime) -> None:
        for camera in self.cameras.values():
            camera.clips_today = 0
            camera.alerts_today = 0
            if camera.last_clip is not None:
                camera.notify("daily_reset", camera.last_clip)


def _stage_detail(state: ClipState) -> str:
    """What a stage decided, for the debug line that lets a user follow a clip."""
    parts = [f"status {state.status.value}"]
    if state.filter_result is not None:
        parts.append("objects " + (", ".join(state.filter_result.detected_classes) or "none"))
    if state.analysis is not None:
        parts.append(f"risk {state.analysis.risk_level.value}")
        parts.append(f"activity {state.analysis.activity_type.value}")
    elif state.analysis_skipped_reason:
        parts.append(f"analysis skipped: {state.analysis_skipped_reason}")
    if state.alert_decision is not None:
        notify = "alert" if state.alert_decision.notify else "no alert"
        parts.append(f"{notify}: {state.alert_decision.reason}")
    if state.error:
        parts.append(f"error: {state.error}")
    return "; ".join(parts)


type HomeSecConfigEntry = ConfigEntry[HomeSecHub]


def loaded_hub(hass: HomeAssistant) -> HomeSecHub | None:
    """The running hub (HomeSec has one entry), or None while it is not loaded."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            hub: HomeSecHub = entry.runtime_data
            return hub
    return None
