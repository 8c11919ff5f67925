"""Frigate's live detections: the first alert of an event while Frigate still tracks it.

Frigate publishes `new` when it starts tracking an object (once it is no longer a false
positive) and `update`s while the object moves; its clip can only be downloaded after `end`.
The first `new`/`update` of an event that passes the source's own filters (camera, label,
sub-label, score, zones; never a false positive; the duration is not known yet) is reported
once as a `LiveDetection` keyed by the Frigate event id (review id in reviews mode). The
clips of that event carry the same key (`EVENT_KEY`), so their alert updates the live one.

The frame is not downloaded here: the report carries a function that fetches Frigate's current
snapshot of the event (`/api/events/<id>/snapshot.jpg?bbox=1`) when the alert's link is first
opened, so reporting costs no request and the notification goes out at once. Catch-up rows
(found through Frigate's API after an outage) never come here: only live messages do.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp

from ..models import LiveDetection
from .frigate_client import FrigateClient, FrigateError
from .frigate_filters import FrigateMatchSettings, match_event, match_review
from .frigate_messages import FrigateEvent, FrigateReview

_LOGGER = logging.getLogger(__name__)

SnapshotFetch = Callable[[], Awaitable[bytes | None]]
# A live detection and how to fetch its frame (called on the event loop; must not block).
LiveReport = Callable[[LiveDetection, SnapshotFetch | None], None]
CameraResolver = Callable[[str], tuple[str, str] | None]

# Events remembered as reported (Frigate tracks a handful of objects at a time).
_REPORTED_KEEP = 1000

REPORTED = "live detection reported"


class FrigateLive:
    """Reports each Frigate event's (or review item's) first matching live message once."""

    def __init__(
        self,
        *,
        client: FrigateClient,
        match: FrigateMatchSettings,
        camera_for: CameraResolver,
        report: LiveReport,
        source_type: str,
    ) -> None:
        self._client = client
        self._match = match
        self._camera_for = camera_for
        self._report = report
        self._source_type = source_type
        self._reported: deque[str] = deque(maxlen=_REPORTED_KEEP)
        self._reported_set: set[str] = set()
        self.detections_reported = 0
        self.last_reported_at: datetime | None = None

    def event(self, event: FrigateEvent) -> str | None:
        """A `new`/`update` of a tracked object; returns REPORTED, or None (nothing sent)."""
        if event.id in self._reported_set or event.false_positive or event.label is None:
            return None
        ok, _reason = match_event(event, self._match)
        if not ok:
            return None
        return self._send(
            key=event.id,
            frigate_camera=event.camera,
            label=event.label,
            confidence=event.best_score or 0.0,
            at=event.frame_time or event.start_time,  # the snapshot frame's time
            snapshot_event_id=event.id,
        )

    def review(self, review: FrigateReview) -> str | None:
        """A `new`/`update` of a review item (reviews mode); REPORTED or None."""
        if review.id in self._reported_set or not review.labels:
            return None
        ok, _reason = match_review(review, self._match)
        if not ok:
            return None
        wanted = self._match.labels
        label = next((name for name in review.labels if not wanted or name in wanted), None)
        if label is None:
            return None
        return self._send(
            key=review.id,
            frigate_camera=review.camera,
            label=label,
            confidence=0.0,  # review items carry no scores
            at=review.start_time,
            snapshot_event_id=review.detections[0] if review.detections else None,
        )

    def _send(
        self,
        *,
        key: str,
        frigate_camera: str,
        label: str,
        confidence: float,
        at: float,
        snapshot_event_id: str | None,
    ) -> str | None:
        mapped = self._camera_for(frigate_camera)
        if mapped is None:
            return None
        camera_id, camera_name = mapped
        self._remember(key)
        detection = LiveDetection(
            event_key=key,
            camera_id=camera_id,
            camera_name=camera_name,
            source_type=self._source_type,
            label=label,
            confidence=confidence,
            detected_at=datetime.fromtimestamp(at, tz=UTC),
        )
        fetch = self._fetcher(snapshot_event_id) if snapshot_event_id is not None else None
        self.detections_reported += 1
        self.last_reported_at = datetime.now(UTC)
        try:
            self._report(detection, fetch)
        except Exception:  # a listener must not break the source
            _LOGGER.exception("Live detection listener failed for Frigate event %s", key)
        return REPORTED

    def _remember(self, key: str) -> None:
        if len(self._reported) == self._reported.maxlen:
            self._reported_set.discard(self._reported[0])
        self._reported.append(key)
        self._reported_set.add(key)

    def _fetcher(self, event_id: str) -> SnapshotFetch:
        client = self._client

        async def fetch() -> bytes | None:
            try:
                return await client.snapshot(event_id, bbox=True)
            except (FrigateError, aiohttp.ClientError, TimeoutError) as err:
                _LOGGER.debug("No live Frigate snapshot of %s: %s", event_id, err)
                return None

        return fetch

    def diagnostics(self) -> dict[str, object]:
        """Counters (no secrets)."""
        return {
            "detections_reported": self.detections_reported,
            "last_reported_at": (
                self.last_reported_at.isoformat() if self.last_reported_at else None
            ),
        }
