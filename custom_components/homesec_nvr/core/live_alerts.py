"""Live alerts: the first alert of an event, sent the moment a source sees a trigger object.

A live source (an RTSP camera's detect frames, Frigate's `new`/`update` messages) reports a
`LiveDetection` while the event still goes on. The first detection of an event is reported to
the listener (Home Assistant's bus event and event entity) and, when the alert policy agrees,
sent at once to the notifiers that can update what they sent (`Notifier.supports_live`). The
event's clips later go through the pipeline as usual; the runner asks `delivered()` which
notifiers already told the user about the event, and sends them the clip's alert as a
follow-up that replaces the live one (the same tag): one notification per event.

A live alert is tried once, with a short deadline: when it fails, the clip's own alert still
comes (nothing is lost, it is only later).

What was reported and delivered is remembered for the most recent events (the `max_events`
newest, first seen within `max_age`), in memory and, with a `memory` (the clip store's
`live_events` table), across restarts: `async_load` at start brings them back before the
sources run, so an event still going on (Frigate's further `update`s) is not alerted again
and its clips (a resumed clip too) are follow-ups of the live alert. Each change is written
after the fact, beside the alert and never before it: a store fault is logged and the alert
goes on (the memory is then only in memory until the next change).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .interfaces import AlertPolicy, Notifier, PipelineError
from .models import Alert, AlertDecision, AlertStage, LiveDetection
from .store import LiveEventRecord, StoreError

_LOGGER = logging.getLogger(__name__)

# Events remembered (an event's clips arrive within minutes of its live detection).
MAX_EVENTS = 512
MAX_AGE = timedelta(days=1)
SEND_TIMEOUT_S = 10.0

LiveListener = Callable[[LiveDetection, AlertDecision], None]


class LiveMemory(Protocol):
    """Where the remembered events outlive a restart (ClipStore is one)."""

    async def load_live_events(self, *, keep: int, since: datetime) -> list[LiveEventRecord]:
        """The events first seen from `since` on, at most the `keep` newest, oldest first."""

    async def save_live_event(self, record: LiveEventRecord, *, keep: int, since: datetime) -> None:
        """Remember one event (and forget those older than `since` or beyond `keep`)."""


@dataclass(slots=True)
class _Event:
    seen_at: datetime
    # The live detection (None for an event first alerted by one of its clips).
    detection: LiveDetection | None
    decision: AlertDecision | None
    # Notifiers that told the user about the event (its live alert or an earlier clip's).
    delivered: set[str] = field(default_factory=set)
    # A clip of the event has alerted: later clips update the notification only when they
    # alert too (a quiet clip never overwrites an alert).
    clip_alerted: bool = False


def live_alert(detection: LiveDetection, decision: AlertDecision) -> Alert:
    """The notifier-facing view of a live detection (no clip, no analysis yet)."""
    return Alert(
        clip_id=detection.event_key,
        camera_id=detection.camera_id,
        camera_name=detection.camera_name,
        start_ts=detection.detected_at,
        reason=decision.reason,
        detected_classes=(detection.label,),
        analysis=None,
        clip_path=None,
        snapshot_path=None,
        clip_uri=None,
        snapshot_uri=None,
        event_key=detection.event_key,
        stage=AlertStage.DETECTED,
    )


class LiveAlerts:
    """Decides and delivers live alerts; remembers which events were alerted."""

    def __init__(
        self,
        policy: AlertPolicy,
        notifiers: Sequence[Notifier],
        listener: LiveListener,
        *,
        memory: LiveMemory | None = None,
        max_events: int = MAX_EVENTS,
        max_age: timedelta = MAX_AGE,
        send_timeout_s: float = SEND_TIMEOUT_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._policy = policy
        self._notifiers = [n for n in notifiers if n.supports_live]
        self._live_names = frozenset(n.name for n in self._notifiers)
        self._listener = listener
        self._memory = memory
        self._max_events = max_events
        self._max_age = max_age
        self._send_timeout_s = send_timeout_s
        self._clock = clock
        self._events: OrderedDict[str, _Event] = OrderedDict()
        self.detections = 0
        self.alerts = 0
        self.failures = 0
        self.memory_failures = 0

    async def async_load(self) -> None:
        """Bring back the events remembered before a restart (call before the sources run).

        A store fault is logged: live alerts then start with no memory of earlier events.
        """
        if self._memory is None:
            return
        try:
            records = await self._memory.load_live_events(
                keep=self._max_events, since=self._clock() - self._max_age
            )
        except StoreError as err:
            self.memory_failures += 1
            _LOGGER.warning("Live alerts' memory of earlier events not read: %s", err)
            return
        except Exception:
            self.memory_failures += 1
            _LOGGER.exception("Live alerts' memory of earlier events not read")
            return
        loaded: OrderedDict[str, _Event] = OrderedDict(
            (
                r.event_key,
                _Event(
                    r.seen_at, None, None, delivered=set(r.delivered), clip_alerted=r.clip_alerted
                ),
            )
            for r in records
        )
        loaded.update(self._events)  # events seen since are newer
        self._events = loaded
        self._trim()
        _LOGGER.debug("Live alerts remember %s earlier events", len(records))

    def known(self, event_key: str) -> bool:
        """Whether this event was already reported."""
        return event_key in self._events

    async def handle(self, detection: LiveDetection) -> AlertDecision | None:
        """Report an event's first detection and alert when the policy says so.

        Returns the decision, or None for an event already reported (its later detections
        change nothing: one alert per event).
        """
        if detection.event_key in self._events:
            return None
        decision = self._policy.decide_live(
            detection.camera_id, detection.label, detection.detected_at
        )
        event = _Event(self._clock(), detection, decision)
        self._events[detection.event_key] = event
        self._trim()
        self.detections += 1
        self._listener(detection, decision)
        # Remembered at once (beside the alert, never before it), and again with what was
        # delivered: a restart during the send does not alert the event a second time.
        seen = self._save(self._record(detection.event_key, event))
        if not decision.notify or not self._notifiers:
            await seen
            return decision
        self.alerts += 1
        alert = live_alert(detection, decision)
        await asyncio.gather(seen, *(self._send(n, alert, event) for n in self._notifiers))
        if event.delivered:
            await self._save(self._record(detection.event_key, event))
        return decision

    async def _send(self, notifier: Notifier, alert: Alert, event: _Event) -> None:
        try:
            async with asyncio.timeout(self._send_timeout_s):
                await notifier.send(alert)
        except (PipelineError, TimeoutError) as err:
            self.failures += 1
            _LOGGER.warning(
                "Live alert for %s (%s) not delivered through %s; the clip's alert follows: %s",
                alert.camera_name,
                alert.event_key,
                notifier.name,
                err or "timed out",
            )
        except Exception:
            self.failures += 1
            _LOGGER.exception(
                "Live alert for %s through %s failed unexpectedly", alert.camera_name, notifier.name
            )
        else:
            event.delivered.add(notifier.name)

    def delivered(self, event_key: str | None) -> frozenset[str]:
        """The notifiers that told the user about this event live (empty: none did)."""
        event = self._events.get(event_key) if event_key else None
        return frozenset(event.delivered) if event is not None else frozenset()

    def wants_update(self, event_key: str, alerting: bool) -> bool:
        """Whether a clip of this event should update the live notification: an alerting
        clip always does; a quiet one (the analysis found nothing worth an alert) only while
        no clip of the event has alerted."""
        event = self._events.get(event_key)
        if event is None or not event.delivered:
            return False
        return alerting or not event.clip_alerted

    async def clip_done(self, event_key: str, alerted: bool, delivered: frozenset[str]) -> None:
        """A clip of the event was notified (as an alert or a quiet update) through
        `delivered`; the event's later clips update that notification (remembered)."""
        event = self._events.get(event_key)
        if event is None:
            if not alerted:
                return
            event = self._events[event_key] = _Event(self._clock(), None, None)
            self._trim()
        before = (len(event.delivered), event.clip_alerted)
        event.delivered.update(n for n in delivered if n in self._live_names)
        if alerted:
            event.clip_alerted = True
        if (len(event.delivered), event.clip_alerted) != before:
            await self._save(self._record(event_key, event))

    def _trim(self) -> None:
        while len(self._events) > self._max_events:
            self._events.popitem(last=False)

    @staticmethod
    def _record(event_key: str, event: _Event) -> LiveEventRecord:
        """The event as it is now (taken at once: its write may run while it changes)."""
        return LiveEventRecord(
            event_key=event_key,
            seen_at=event.seen_at,
            delivered=frozenset(event.delivered),
            clip_alerted=event.clip_alerted,
        )

    async def _save(self, record: LiveEventRecord) -> None:
        """Write one event to the memory; a fault is logged (the alert matters more)."""
        if self._memory is None:
            return
        try:
            await self._memory.save_live_event(
                record, keep=self._max_events, since=self._clock() - self._max_age
            )
        except StoreError as err:
            self.memory_failures += 1
            _LOGGER.warning(
                "Live alert of %s not remembered (a restart may alert it again): %s",
                record.event_key,
                err,
            )
        except Exception:
            self.memory_failures += 1
            _LOGGER.exception("Live alert of %s not remembered", record.event_key)

    def diagnostics(self) -> dict[str, int]:
        """Counters for diagnostics."""
        return {
            "detections": self.detections,
            "alerts": self.alerts,
            "failures": self.failures,
            "events_remembered": len(self._events),
            "memory_failures": self.memory_failures,
        }
