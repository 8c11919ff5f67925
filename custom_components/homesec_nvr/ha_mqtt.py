"""MQTT delivery through Home Assistant's MQTT integration (no broker settings of our own).

Per camera, under the configured topic prefix (`homesec` by default) and the camera's slug:

- `<prefix>/<camera>/alert`: each alert as JSON (`alert_payload`), at the configured QoS and
  retain flag; a notifier of the pipeline, so it is retried and never sent twice for a clip;
- `<prefix>/<camera>/snapshot`: the alert's snapshot JPEG (optional), retained;
- `<prefix>/<camera>/analysis`: the last finished clip of the camera as JSON (the
  `homesec_nvr_clip_processed` payload), always retained, so a dashboard or another system
  subscribing later gets the current state at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import slugify

from .const import (
    CONF_MQTT_ENABLED,
    CONF_MQTT_QOS,
    CONF_MQTT_RETAIN,
    CONF_MQTT_SNAPSHOT,
    CONF_MQTT_TOPIC_PREFIX,
    DEFAULT_MQTT_QOS,
    DEFAULT_MQTT_TOPIC_PREFIX,
)
from .core.interfaces import Notifier, PipelineError
from .core.models import Alert
from .core.payload import MediaLinks, alert_payload
from .ha_notifier import AlertWordsSource, WordsFor

_LOGGER = logging.getLogger(__name__)

NOTIFIER_NAME = "mqtt"


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """What and how HomeSec publishes."""

    prefix: str = DEFAULT_MQTT_TOPIC_PREFIX
    qos: int = DEFAULT_MQTT_QOS
    retain: bool = False
    snapshot: bool = False

    def topic(self, camera_name: str, leaf: str) -> str:
        """`<prefix>/<camera slug>/<leaf>`."""
        return f"{self.prefix}/{slugify(camera_name) or 'camera'}/{leaf}"


def mqtt_settings(options: Mapping[str, Any]) -> MqttSettings | None:
    """The MQTT settings of the hub options, or None when MQTT delivery is off."""
    if not options.get(CONF_MQTT_ENABLED):
        return None
    prefix = str(options.get(CONF_MQTT_TOPIC_PREFIX) or DEFAULT_MQTT_TOPIC_PREFIX).strip("/ ")
    return MqttSettings(
        prefix=prefix or DEFAULT_MQTT_TOPIC_PREFIX,
        qos=int(options.get(CONF_MQTT_QOS, DEFAULT_MQTT_QOS)),
        retain=bool(options.get(CONF_MQTT_RETAIN, False)),
        snapshot=bool(options.get(CONF_MQTT_SNAPSHOT, False)),
    )


def valid_topic_prefix(value: str) -> bool:
    """A prefix MQTT accepts for publishing: no wildcards, no empty levels, not too long."""
    prefix = value.strip("/ ")
    return (
        bool(prefix)
        and len(prefix) <= 200
        and not any(c in prefix for c in "#+\0")
        and "//" not in prefix
    )


async def _async_publish(
    hass: HomeAssistant, topic: str, payload: str | bytes, qos: int, retain: bool
) -> None:
    # Imported here: MQTT is an after-dependency, loaded only when the user has it.
    from homeassistant.components import mqtt

    # Bytes as they are (JSON encoded here, JPEG): HA's pass-through needs bytes.
    data = payload.encode() if isinstance(payload, str) else payload
    await mqtt.async_publish(hass, topic, data, qos=qos, retain=retain, encoding=None)


class MqttAlertNotifier(Notifier):
    """Publishes each alert (and optionally its snapshot) through HA's MQTT integration."""

    name = NOTIFIER_NAME

    def __init__(
        self,
        hass: HomeAssistant,
        settings: MqttSettings,
        links: Callable[[Alert], MediaLinks],
        words: WordsFor | None = None,
    ) -> None:
        self._hass = hass
        self._settings = settings
        self._links = links
        self._words = words or AlertWordsSource(hass).async_get

    async def send(self, alert: Alert) -> None:
        settings = self._settings
        payload = alert_payload(alert, self._links(alert), await self._words())
        body = json.dumps(payload, separators=(",", ":"))
        try:
            await _async_publish(
                self._hass,
                settings.topic(alert.camera_name, "alert"),
                body,
                settings.qos,
                settings.retain,
            )
            if settings.snapshot and alert.snapshot_path is not None:
                jpeg = await self._hass.async_add_executor_job(_read, alert.snapshot_path)
                if jpeg is not None:
                    await _async_publish(
                        self._hass,
                        settings.topic(alert.camera_name, "snapshot"),
                        jpeg,
                        settings.qos,
                        True,
                    )
        except HomeAssistantError as err:
            raise PipelineError(f"MQTT publish failed: {err}") from err


async def async_publish_analysis(
    hass: HomeAssistant, settings: MqttSettings, camera_name: str, payload: Mapping[str, Any]
) -> None:
    """Publish a camera's last finished clip, retained (best effort: logged, never raised)."""
    try:
        await _async_publish(
            hass,
            settings.topic(camera_name, "analysis"),
            json.dumps(payload, separators=(",", ":"), default=str),
            settings.qos,
            True,
        )
    except HomeAssistantError as err:
        _LOGGER.warning("Camera %s: last analysis not published to MQTT: %s", camera_name, err)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as err:
        _LOGGER.warning("Snapshot %s not published to MQTT: %s", path, err.strerror or err)
        return None
