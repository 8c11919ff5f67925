"""Frigate cameras: one subentry per Frigate server, MQTT subscriptions through HA's MQTT
integration, one device per Frigate camera (created when first seen), the server's device with
its health entities, description write-back, and which camera devices are stale.

Frigate's `new`/`update` messages report live detections to the hub (the first alert of an
event, with Frigate's snapshot fetched when its link is opened); the clip's alert updates it.

Frigate's MQTT events are not retained: the source catches up from Frigate's HTTP API at
start, after an MQTT reconnect and when Frigate comes back online (`FrigateSource.catch_up`).

The protocol logic (message parsing, matching, downloads) lives in core/sources/frigate*.py.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from homeassistant.components import mqtt

# HA 2026 moved BinarySensorDeviceClass to binary_sensor.const and re-exports it implicitly
# (that module does not exist in 2025.4): the package import works on both lines.
from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined]
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_URL,
    CONF_USERNAME,
    EntityCategory,
    Platform,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_create_clientsession
from homeassistant.helpers.entity import Entity

from ..const import (
    CONF_DOWNLOAD_WINDOW_S,
    CONF_FRIGATE_MODE,
    CONF_PADDING_S,
    CONF_TOPIC_PREFIX,
    CONF_VERIFY_SSL,
    CONF_WRITE_DESCRIPTION,
    DOMAIN,
    EVENT_CLIP_DOWNLOAD_FAILED,
    FILTER_FRIGATE,
    FRIGATE_CLIPS_DIR,
    ISSUE_MQTT_UNAVAILABLE,
    SUBENTRY_FRIGATE,
)
from ..core.models import ClipState
from ..core.sources.frigate import (
    CONF_CATCH_UP_MAX_AGE_S,
    CONF_CATCH_UP_MAX_EVENTS,
    FrigateMode,
    FrigateSource,
    FrigateSourceSettings,
)
from ..core.sources.frigate_client import FrigateClient, FrigateError
from ..core.sources.frigate_filters import FrigateMatchSettings, match_camera
from ..core.sources.frigate_messages import Availability
from ..entity import device_under_hub
from ..runtime import CameraRuntime, HubRuntime, SubmitClip
from ..settings import frigate_camera_config
from .base import CameraKind, CameraSpec, clip_callback

_LOGGER = logging.getLogger(__name__)

DEFAULT_TOPIC_PREFIX = "frigate"
DEFAULT_PADDING_S = 5
DEFAULT_DOWNLOAD_WINDOW_S = 90.0


def frigate_camera_id(subentry_id: str, frigate_camera: str) -> str:
    """The HomeSec camera id (device identifier) of one Frigate camera."""
    return f"{subentry_id}:{frigate_camera}"


def frigate_client(
    hass: HomeAssistant, data: dict[str, Any] | Any, *, auto_cleanup: bool = True
) -> tuple[FrigateClient, aiohttp.ClientSession]:
    """A client on a session of its own (Frigate's JWT cookie must not leak into HA's shared
    jar). The session shares Home Assistant's connector, so it is never closed but detached:
    by Home Assistant when the entry being set up unloads (`auto_cleanup`), else by the
    caller (`session.detach()`) when done with the client."""
    session = async_create_clientsession(
        hass,
        verify_ssl=bool(data.get(CONF_VERIFY_SSL, True)),
        auto_cleanup=auto_cleanup,
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    client = FrigateClient(
        session,
        str(data[CONF_URL]),
        username=data.get(CONF_USERNAME) or None,
        password=data.get(CONF_PASSWORD) or None,
        verify_ssl=bool(data.get(CONF_VERIFY_SSL, True)),
    )
    return client, session


def frigate_camera_selected(data: Mapping[str, Any], frigate_camera: str) -> bool:
    """Whether a Frigate subentry takes this camera (an empty camera list takes them all)."""
    return match_camera(frigate_camera, FrigateMatchSettings.from_mapping(data))[0]


def _timing_overrides(config: dict[str, Any]) -> dict[str, Any]:
    """Download timing (not in the form; set in tests and for unusual Frigate setups)."""
    return {k: float(config[k]) for k in ("first_delay_s", "retry_delay_s") if k in config}


def _catch_up_overrides(config: dict[str, Any]) -> dict[str, Any]:
    """The catch-up bounds, when the subentry sets them (else the source's defaults)."""
    overrides: dict[str, Any] = {}
    if CONF_CATCH_UP_MAX_AGE_S in config:
        overrides["catch_up_max_age_s"] = max(0.0, float(config[CONF_CATCH_UP_MAX_AGE_S]))
    if CONF_CATCH_UP_MAX_EVENTS in config:
        overrides["catch_up_max_events"] = max(0, int(config[CONF_CATCH_UP_MAX_EVENTS]))
    return overrides


def _payload(msg: mqtt.ReceiveMessage) -> bytes | str:
    payload = msg.payload
    return bytes(payload) if isinstance(payload, bytearray) else payload


def mqtt_ready(hass: HomeAssistant) -> bool:
    """True when Home Assistant's MQTT integration is set up."""
    return any(
        entry.state is ConfigEntryState.LOADED
        for entry in hass.config_entries.async_entries("mqtt")
    )


class FrigateCameras(CameraKind):
    """One Frigate server (subentry): its source, subscriptions, health and cameras."""

    subentry_type: ClassVar[str] = SUBENTRY_FRIGATE
    owns_clip_files: ClassVar[bool] = True
    # Frigate already detected the object: its detection is the default filter.
    default_filter: ClassVar[str] = FILTER_FRIGATE

    def __init__(self, hub: HubRuntime, subentry: ConfigSubentry) -> None:
        super().__init__(hub, subentry)
        self.topic_prefix = str(self.config.get(CONF_TOPIC_PREFIX) or DEFAULT_TOPIC_PREFIX)
        # Built while the entry sets up: Home Assistant detaches the session when it unloads.
        self.client, self.session = frigate_client(self.hass, self.config)
        settings = FrigateSourceSettings(
            clip_dir=Path(self.hass.config.path(FRIGATE_CLIPS_DIR)) / self.subentry_id,
            mode=FrigateMode(self.config.get(CONF_FRIGATE_MODE, FrigateMode.EVENTS.value)),
            match=FrigateMatchSettings.from_mapping(self.config),
            padding_s=int(self.config.get(CONF_PADDING_S, DEFAULT_PADDING_S)),
            download_window_s=float(
                self.config.get(CONF_DOWNLOAD_WINDOW_S, DEFAULT_DOWNLOAD_WINDOW_S)
            ),
        )
        settings = dataclasses.replace(
            settings, **_timing_overrides(self.config), **_catch_up_overrides(self.config)
        )
        self.source = FrigateSource(
            client=self.client,
            settings=settings,
            camera_for=self._camera_for,
            is_known=hub.has_clip,
            on_download_failed=self._download_failed,
            # An event's first `new`/`update`: the live alert, before its clip exists.
            on_live_detection=hub.async_live_detection,
            create_task=hub.create_task,
        )
        self._unsubs: list[CALLBACK_TYPE] = []
        self._listeners: list[CALLBACK_TYPE] = []
        self.version: str | None = None
        self.mqtt_error: str | None = None
        self.mqtt_connected = False

    # -- cameras -----------------------------------------------------------------------

    def restore_cameras(self) -> list[CameraSpec]:
        """Frigate cameras seen in earlier runs (their devices exist) and still selected:
        known from the start. Devices of cameras no longer selected are removed at setup."""
        registry = dr.async_get(self.hass)
        cameras = []
        for device in dr.async_entries_for_config_entry(registry, self.hub.entry.entry_id):
            for domain, identifier in device.identifiers:
                prefix = f"{self.subentry_id}:"
                if domain == DOMAIN and identifier.startswith(prefix):
                    name = identifier.removeprefix(prefix)
                    if frigate_camera_selected(self.config, name):
                        cameras.append(
                            CameraSpec(identifier, name, frigate_camera_config(self.config, name))
                        )
        return cameras

    @classmethod
    def configures(cls, subentry: ConfigSubentry, identifier: str) -> bool:
        """The server's own device, and cameras the subentry still selects."""
        if identifier == subentry.subentry_id:
            return True
        name = identifier.removeprefix(f"{subentry.subentry_id}:")
        return frigate_camera_selected(subentry.data, name)

    @classmethod
    async def async_camera_gone(
        cls, hass: HomeAssistant, subentry: ConfigSubentry, identifier: str
    ) -> bool:
        """A camera of a subentry that takes every camera: gone once Frigate no longer has
        it (asked now; when Frigate cannot be asked, the camera is kept)."""
        if identifier == subentry.subentry_id:
            return False
        name = identifier.removeprefix(f"{subentry.subentry_id}:")
        client, session = frigate_client(hass, subentry.data, auto_cleanup=False)
        try:
            names = (await client.validate()).config.camera_names
        except FrigateError as err:
            _LOGGER.warning(
                "Keeping camera %s: Frigate %s cannot say whether it still has it: %s",
                name,
                subentry.title,
                err,
            )
            return False
        finally:
            session.detach()
        return name not in names

    @callback
    def _camera_for(self, frigate_camera: str) -> tuple[str, str] | None:
        camera_id = frigate_camera_id(self.subentry_id, frigate_camera)
        if camera_id not in self.hub.cameras:
            self.hub.async_add_camera(
                self.hub.new_camera(
                    camera_id,
                    self.subentry_id,
                    frigate_camera,
                    frigate_camera_config(self.config, frigate_camera),
                )
            )
        return camera_id, frigate_camera

    # -- lifecycle ---------------------------------------------------------------------

    async def async_start(self, submit: SubmitClip) -> None:
        """Subscribe to Frigate's topics through HA's MQTT integration and start the source."""
        await self.source.start(clip_callback(submit))
        if recovered := await self.source.recover():
            _LOGGER.info(
                "Frigate %s: handed over %s clip(s) from the last run", self.title, recovered
            )
        try:
            if not await mqtt.async_wait_for_mqtt_client(self.hass):
                raise HomeAssistantError("the MQTT integration is not set up")
            for topic, handler in (
                ("events", self._on_event),
                ("reviews", self._on_review),
                ("available", self._on_available),
            ):
                self._unsubs.append(
                    await mqtt.async_subscribe(
                        self.hass, f"{self.topic_prefix}/{topic}", handler, qos=0
                    )
                )
        except HomeAssistantError as err:
            self.mqtt_error = str(err)
            _LOGGER.warning("Frigate %s: cannot subscribe to MQTT: %s", self.title, err)
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"{ISSUE_MQTT_UNAVAILABLE}_{self.subentry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_MQTT_UNAVAILABLE,
                translation_placeholders={"server": self.title},
            )
            # What Frigate finished while Home Assistant was down still counts.
            self._catch_up("start")
            return
        _LOGGER.info("Frigate %s: subscribed to %s/#", self.title, self.topic_prefix)
        ir.async_delete_issue(self.hass, DOMAIN, f"{ISSUE_MQTT_UNAVAILABLE}_{self.subentry_id}")
        self._unsubs.append(
            mqtt.async_subscribe_connection_status(self.hass, self._on_mqtt_connection)
        )
        self.mqtt_connected = mqtt.is_connected(self.hass)
        self._notify()
        self.hub.create_task(self._async_fetch_version(), f"homesec frigate version {self.title}")
        # Subscribed first: what ends from now on arrives live, what ended before is caught up.
        self._catch_up("start")

    @callback
    def _catch_up(self, why: str) -> None:
        """Ask Frigate's API for what MQTT did not bring (in the background)."""
        if not self.source.running:
            return
        _LOGGER.debug("Frigate %s: catching up (%s)", self.title, why)
        self.hub.create_task(self._async_catch_up(), f"homesec frigate catch-up {self.title}")

    async def _async_catch_up(self) -> None:
        # Never raises: a failure is logged by the source and retried at the next transition.
        await self.source.catch_up()
        self._notify()

    async def _async_fetch_version(self) -> None:
        try:
            self.version = await self.client.version()
        except FrigateError as err:
            _LOGGER.debug("Frigate %s: version not available: %s", self.title, err)
        self._notify()

    async def async_stop(self) -> None:
        """Unsubscribe and stop downloads."""
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        await self.source.stop()

    # -- MQTT --------------------------------------------------------------------------

    async def _on_event(self, msg: mqtt.ReceiveMessage) -> None:
        await self.source.handle_event_message(_payload(msg))

    async def _on_review(self, msg: mqtt.ReceiveMessage) -> None:
        await self.source.handle_review_message(_payload(msg))

    @callback
    def _on_available(self, msg: mqtt.ReceiveMessage) -> None:
        before = self.source.availability
        now = self.source.handle_availability(_payload(msg))
        down = (Availability.OFFLINE, Availability.STOPPED)
        if now in down:
            self.source.connection_lost()
        elif now is Availability.ONLINE and before in down:
            self._catch_up("Frigate is back online")
        self._notify()

    @callback
    def _on_mqtt_connection(self, connected: bool) -> None:
        if connected != self.mqtt_connected:
            _LOGGER.info(
                "Frigate %s: MQTT %s", self.title, "connected" if connected else "disconnected"
            )
            self.mqtt_connected = connected
            if connected:
                self._catch_up("MQTT reconnected")
            else:
                self.source.connection_lost()
            self._notify()

    # -- health and hooks --------------------------------------------------------------

    def available(self, camera: CameraRuntime) -> bool:
        """A Frigate camera is down while its server is."""
        return self.connected

    @property
    def connected(self) -> bool:
        """MQTT is connected and Frigate says it is online (or nothing said otherwise)."""
        return (
            self.mqtt_error is None
            and self.mqtt_connected
            and self.source.availability in (Availability.ONLINE, Availability.UNKNOWN)
            and self.source.healthy
        )

    @property
    def last_api_success(self) -> datetime | None:
        """When Frigate's API last answered."""
        return self.source.last_api_success

    @callback
    def add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener()` when the health changes."""
        self._listeners.append(listener)

        def remove() -> None:
            self._listeners.remove(listener)

        return remove

    @callback
    def _notify(self) -> None:
        """The health may have changed: the server's entities and its cameras' refresh."""
        for listener in list(self._listeners):
            listener()
        for camera in list(self.hub.cameras.values()):
            if camera.subentry_id == self.subentry_id:
                camera.notify_status()

    @callback
    def _download_failed(self, frigate_id: str, camera: str, reason: str) -> None:
        self.hass.bus.async_fire(
            EVENT_CLIP_DOWNLOAD_FAILED,
            {"frigate_id": frigate_id, "camera": camera, "reason": reason, "server": self.title},
        )
        self._notify()

    @callback
    def clip_updated(self, state: ClipState, stage: str) -> None:
        """Write HomeSec's summary back to Frigate (optional, off by default)."""
        event_id = state.metadata.get("frigate_event_id")
        if (
            stage != "analyzed"
            or not self.config.get(CONF_WRITE_DESCRIPTION)
            or not event_id
            or state.analysis is None
        ):
            return
        self.hub.create_task(
            self._async_describe(str(event_id), state.analysis.summary),
            f"homesec frigate description {event_id}",
        )

    async def _async_describe(self, event_id: str, summary: str) -> None:
        try:
            await self.client.set_description(event_id, summary)
        except FrigateError as err:
            _LOGGER.warning(
                "Frigate %s: could not set description of %s: %s", self.title, event_id, err
            )

    def entities(self, platform: Platform) -> list[Entity]:
        """The server's connectivity and failed-download entities."""
        if platform is Platform.BINARY_SENSOR:
            return [FrigateConnectivityBinarySensor(self.hub, self)]
        if platform is Platform.SENSOR:
            return [FrigateDownloadsFailedSensor(self.hub, self)]
        return []

    def diagnostics(self) -> dict[str, Any]:
        """Server version, health and the source's own details."""
        return {
            "version": self.version,
            "topic_prefix": self.topic_prefix,
            "mqtt_error": self.mqtt_error,
            "mqtt_connected": self.mqtt_connected,
            "connected": self.connected,
            **self.source.diagnostics(),
        }


class HomeSecFrigateEntity(Entity):
    """An entity of a Frigate server (its own device under the hub)."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, hub: HubRuntime, server: FrigateCameras, key: str) -> None:
        self.hub = hub
        self.server = server
        self._attr_unique_id = f"{server.subentry_id}_{key}"
        self._attr_device_info = device_under_hub(
            hub,
            server.subentry_id,
            name=server.title,
            manufacturer="Frigate",
            model="NVR",
            configuration_url=server.client.base_url,
        )

    async def async_added_to_hass(self) -> None:
        """Follow the server's health."""
        await super().async_added_to_hass()
        self.async_on_remove(self.server.add_listener(self.async_write_ha_state))


class FrigateConnectivityBinarySensor(HomeSecFrigateEntity, BinarySensorEntity):
    """On while Frigate is online (`<prefix>/available`) and its API answers."""

    _attr_translation_key = "frigate_connected"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, hub: HubRuntime, server: FrigateCameras) -> None:
        super().__init__(hub, server, "connected")

    @property
    def is_on(self) -> bool:
        """Frigate is reachable."""
        return self.server.connected

    @property
    def extra_state_attributes(self) -> dict[str, str | int | None]:
        """What the health is based on."""
        last = self.server.last_api_success
        return {
            "availability": self.server.source.availability.value,
            "last_api_success": last.isoformat() if last else None,
            "version": self.server.version,
            "clip_downloads_failed": self.server.source.clips_download_failed,
        }


class FrigateDownloadsFailedSensor(HomeSecFrigateEntity, SensorEntity):
    """Frigate clips HomeSec gave up downloading (since Home Assistant started)."""

    _attr_translation_key = "frigate_downloads_failed"
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_state_class = SensorStateClass.TOTAL_INCREASING
    # Also an attribute of the server's connectivity sensor, and a bus event per failure.
    _attr_entity_registry_enabled_default = False

    def __init__(self, hub: HubRuntime, server: FrigateCameras) -> None:
        super().__init__(hub, server, "downloads_failed")

    @property
    def native_value(self) -> int:
        """Downloads given up."""
        return self.server.source.clips_download_failed

    @property
    def extra_state_attributes(self) -> dict[str, str | None]:
        """The last failure."""
        return {"last_error": self.server.source.last_error}
