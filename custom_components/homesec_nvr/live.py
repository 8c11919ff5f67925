"""Live alerts in Home Assistant: a trigger object seen while its event still goes on.

Sources report a `LiveDetection` (an RTSP camera's object filter on its detect frames, a
Frigate `new`/`update` message). The first one of an event becomes the bus event
`homesec_nvr_live_detection`, the camera's event entity's `live_detection`, and (when the
alert policy agrees) the first notification of the event, sent at once with the frame it was
seen on. core/live_alerts.py decides and delivers, and remembers the events it alerted in the
clip store, so a restart (or a reload of the entry) during an event neither reports nor
alerts it again and its clip's alert is still a follow-up of the live one. This module keeps
the frames behind the signed `live` links (in memory, the most recent events only: a restart
drops them; a source may instead hand a function that fetches the frame when a link is first
opened, e.g. Frigate's event snapshot).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .const import EVENT_LIVE_DETECTION
from .core.interfaces import AlertPolicy, Notifier
from .core.links import LinkSigner, LinkTarget
from .core.live_alerts import LiveAlerts, LiveMemory
from .core.models import AlertDecision, LiveDetection
from .core.payload import MediaLinks, live_payload
from .runtime import CameraRuntime

_LOGGER = logging.getLogger(__name__)

# Frames kept for live links (a JPEG of the detect stream is some 20-60 kB).
MAX_FRAMES = 64

SnapshotFetcher = Callable[[], Awaitable[bytes | None]]


class HomeSecLive:
    """The hub's live alerts: their frames, links, events and delivery."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        cameras: dict[str, CameraRuntime],
        signer: LinkSigner,
        link_ttl_s: Callable[[], float],
        policy: AlertPolicy,
        notifiers: Sequence[Notifier],
        memory: LiveMemory | None = None,
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._cameras = cameras
        self._signer = signer
        self._link_ttl_s = link_ttl_s
        self.alerts = LiveAlerts(policy, notifiers, self._reported, memory=memory)
        self._frames: OrderedDict[str, bytes | SnapshotFetcher] = OrderedDict()
        self._stopped = False

    async def async_start(self) -> None:
        """Bring back the events alerted before the restart (the store is open, no source
        runs yet)."""
        await self.alerts.async_load()

    @callback
    def async_report(
        self, detection: LiveDetection, fetch_snapshot: SnapshotFetcher | None = None
    ) -> None:
        """A source saw a trigger object live (event loop); the event's first report counts."""
        if self._stopped or self.alerts.known(detection.event_key):
            return
        frame = detection.snapshot_jpeg if detection.snapshot_jpeg is not None else fetch_snapshot
        if frame is not None:
            self._frames[detection.event_key] = frame
            while len(self._frames) > MAX_FRAMES:
                self._frames.popitem(last=False)
        self._entry.async_create_background_task(
            self._hass,
            self.alerts.handle(detection),
            f"homesec live alert {detection.event_key}",
        )

    @callback
    def async_stop(self) -> None:
        """Unloading: take no more reports and drop the frames."""
        self._stopped = True
        self._frames.clear()

    def links(self, event_key: str | None) -> MediaLinks:
        """The signed link of an event's live frame (none when it has no frame)."""
        if event_key is None or event_key not in self._frames:
            return MediaLinks()
        return MediaLinks(
            snapshot_url=self._signer.link(event_key, LinkTarget.LIVE, self._link_ttl_s())
        )

    async def async_frame(self, event_key: str) -> bytes | None:
        """The JPEG behind an event's live link (fetched once when the source gave a fetcher)."""
        frame = self._frames.get(event_key)
        if frame is None or isinstance(frame, bytes):
            return frame
        try:
            jpeg = await frame()
        except Exception:  # a source's fetcher must not break the view
            _LOGGER.exception("Live frame of %s could not be fetched", event_key)
            return None
        if jpeg is not None and event_key in self._frames:
            self._frames[event_key] = jpeg
        return jpeg

    @callback
    def _reported(self, detection: LiveDetection, decision: AlertDecision) -> None:
        payload = live_payload(detection, decision, self.links(detection.event_key))
        _LOGGER.debug(
            "Live detection of %s at %s (%s): %s",
            detection.label,
            detection.camera_name,
            detection.event_key,
            decision.reason,
        )
        self._hass.bus.async_fire(EVENT_LIVE_DETECTION, payload)
        camera = self._cameras.get(detection.camera_id)
        if camera is not None:
            camera.notify_live(payload)

    def diagnostics(self) -> dict[str, int]:
        """Counters of live detections and alerts."""
        return {**self.alerts.diagnostics(), "frames_kept": len(self._frames)}
