"""Frigate NVR source: MQTT messages in, downloaded clips out.

The Home Assistant glue subscribes to Frigate's MQTT topics and feeds the payloads in:
`handle_event_message` (`<prefix>/events`), `handle_review_message` (`<prefix>/reviews`) and
`handle_availability` (`<prefix>/available`). This module never touches MQTT or Home Assistant.

Two modes:
- "events": one clip per tracked object, when its `end` message arrives;
- "reviews" (Frigate 0.14+): one clip per review item, when its `end` message arrives, with a
  severity filter.

Clip ids are deterministic (`frigate-<event id>`, `frigate-review-<review id>`), so a message
replayed after a restart is recognised through the injected `is_known` (the clip store), and an
in-memory set covers downloads still in flight. Downloads run as tasks made by the injected task
factory (cancelled on stop), a few transfers at a time (waiting holds no slot), and retry
within a window while Frigate's recordings catch up (see `frigate_client`). A download that
gives up is counted, kept as `last_error` and reported through
`on_download_failed(frigate_id, camera, reason)`.

Live detections (`on_live_detection`): the first `new`/`update` message of an event (or review
item) that passes the filters is reported once while Frigate still tracks it, keyed by its id;
the clip made at its `end` carries the same key (`EVENT_KEY`), so the clip's alert updates the
live one (see `frigate_live`). Catch-up never reports live detections.

Catch-up: Frigate's MQTT events are not retained, so whatever ended while Home Assistant (or
the broker, or Frigate's MQTT link) was down never arrives. `catch_up()` asks Frigate's HTTP
API instead (`GET /api/events`, or `GET /api/review` in reviews mode) for what started after
a watermark and takes each finished item like an `end` message: same filters, same
deterministic clip ids, same dedupe (in flight, recent, the store). The glue calls it at
start, after an MQTT reconnect and when Frigate comes back online; a failure is logged and
left for the next of those. The watermark is "every item that started before it has ended and
was looked at": the latest Frigate time seen minus a margin, held back by items still in
progress (from the API answer and live `new`/`update` messages) and by downloads in flight.
It is kept per mode in `<clip_dir>/catch_up.json` (written atomically in the executor) after a
catch-up, on stop, and now and then after live `end` messages, but only while in sync (a
catch-up succeeded since the last connection loss). The look-back is bounded: never more than
`catch_up_max_age_s` back, never more than `catch_up_max_events` items per catch-up (the
newest; older ones are logged and left). Without a watermark (first start), only the last
minute is looked at: HomeSec catches up on what it missed, not on what came before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..interfaces import (
    ClipCallback,
    ClipSource,
    PipelineError,
    TaskFactory,
    default_task_factory,
)
from ..models import EVENT_KEY, Clip
from ..storage.local import safe_name
from .frigate_client import (
    DEFAULT_FIRST_DELAY_S,
    DEFAULT_MAX_RETRY_DELAY_S,
    DEFAULT_RETRY_DELAY_S,
    DEFAULT_SIZE_CAP_BYTES,
    DEFAULT_WINDOW_S,
    ClipDownload,
    FrigateClient,
    FrigateError,
)
from .frigate_filters import FrigateMatchSettings, match_event, match_review
from .frigate_live import FrigateLive, LiveReport
from .frigate_messages import (
    Availability,
    FrigateEvent,
    FrigateMessageError,
    FrigateReview,
    parse_availability,
    parse_event_message,
    parse_review_message,
)

_LOGGER = logging.getLogger(__name__)

SOURCE_TYPE = "frigate"
EVENT_CLIP_PREFIX = "frigate-"
REVIEW_CLIP_PREFIX = "frigate-review-"
REASON_INTERNAL_ERROR = "internal_error"
_RECENT_IDS = 1000
# Messages of an item still in progress that may report it live (not 0.17's `genai`).
_LIVE_TYPES = frozenset({"new", "update"})

# Clip metadata keys (read by the `frigate` object filter and shown in HA).
META_EVENT_ID = "frigate_event_id"
META_REVIEW_ID = "frigate_review_id"
META_SEVERITY = "frigate_severity"
META_CAMERA = "frigate_camera"
META_LABEL = "frigate_label"
META_LABELS = "frigate_labels"
META_SUB_LABEL = "frigate_sub_label"
META_SUB_LABEL_SCORE = "frigate_sub_label_score"
META_SUB_LABELS = "frigate_sub_labels"
META_TOP_SCORE = "frigate_top_score"
META_SCORE = "frigate_score"
META_ZONES = "frigate_zones"
META_CURRENT_ZONES = "frigate_current_zones"
META_BOX = "frigate_box"
META_REGION = "frigate_region"
META_HAS_SNAPSHOT = "frigate_has_snapshot"
META_DETECTIONS = "frigate_detections"
META_SNAPSHOT_OFFSET_S = "frigate_snapshot_offset_s"
META_PADDING_S = "frigate_padding_s"
META_TRUNCATED = "frigate_truncated"
META_SNAPSHOT_PATH = "snapshot_path"
META_SIZE_BYTES = "size_bytes"
META_DURATION_S = "duration_s"

# Frigate camera name -> (HomeSec camera id, camera name); None = not taken.
CameraResolver = Callable[[str], tuple[str, str] | None]
IsKnown = Callable[[str], Awaitable[bool]]
DownloadFailed = Callable[[str, str, str], None]
WallClock = Callable[[], float]

# Catch-up settings keys (subentry data); the defaults bound the look-back after an outage.
CONF_CATCH_UP_MAX_AGE_S = "catch_up_max_age_s"
CONF_CATCH_UP_MAX_EVENTS = "catch_up_max_events"
DEFAULT_CATCH_UP_MAX_AGE_S = 24 * 3600.0
DEFAULT_CATCH_UP_MAX_EVENTS = 50
DEFAULT_CATCH_UP_SAVE_INTERVAL_S = 30.0
# The watermark file in the clip folder (one watermark per mode).
WATERMARK_FILE = "catch_up.json"
# Items that started this close to the latest Frigate time seen may not be in Frigate's
# database (or in our hands) yet: the watermark stays this far behind it.
WATERMARK_MARGIN_S = 60.0
_HOLD_EPSILON_S = 0.001


class FrigateMode(StrEnum):
    """One clip per tracked object, or one per review item."""

    EVENTS = "events"
    REVIEWS = "reviews"


@dataclass(frozen=True, slots=True)
class FrigateSourceSettings:
    """How the source picks and downloads clips."""

    clip_dir: Path
    mode: FrigateMode = FrigateMode.EVENTS
    match: FrigateMatchSettings = field(default_factory=FrigateMatchSettings)
    padding_s: int = 5
    download_window_s: float = DEFAULT_WINDOW_S
    first_delay_s: float = DEFAULT_FIRST_DELAY_S
    retry_delay_s: float = DEFAULT_RETRY_DELAY_S
    max_retry_delay_s: float = DEFAULT_MAX_RETRY_DELAY_S
    size_cap_bytes: int = DEFAULT_SIZE_CAP_BYTES
    accept_truncated: bool = True
    save_snapshots: bool = True
    max_concurrent_downloads: int = 2
    catch_up_max_age_s: float = DEFAULT_CATCH_UP_MAX_AGE_S
    catch_up_max_events: int = DEFAULT_CATCH_UP_MAX_EVENTS  # 0: no catch-up
    catch_up_save_interval_s: float = DEFAULT_CATCH_UP_SAVE_INTERVAL_S


@dataclass(frozen=True, slots=True)
class CatchUpResult:
    """What one catch-up did (also kept for diagnostics).

    `status`: "done", "failed", "queued" (one was running: it runs again), "disabled" or
    "not running". `after` is the time asked from (epoch seconds); `fetched` the items Frigate
    answered, of which `scheduled` became downloads, `known` were already in hand, `skipped`
    did not match (or had no clip or camera), `in_progress` are still open (their `end` comes
    over MQTT) and `invalid` could not be read. `capped`: Frigate had more than the limit.
    """

    status: str
    after: float | None = None
    fetched: int = 0
    scheduled: int = 0
    known: int = 0
    skipped: int = 0
    in_progress: int = 0
    invalid: int = 0
    capped: bool = False
    error: str | None = None


# Suffix of the record written next to a downloaded clip until the pipeline has taken it.
HANDOVER_SUFFIX = ".handover.json"


def event_clip_id(event_id: str) -> str:
    """The clip id of a Frigate event (stable across restarts)."""
    return f"{EVENT_CLIP_PREFIX}{event_id}"


def review_clip_id(review_id: str) -> str:
    """The clip id of a Frigate review item (stable across restarts)."""
    return f"{REVIEW_CLIP_PREFIX}{review_id}"


@dataclass(slots=True)
class _Job:
    clip_id: str
    frigate_id: str
    camera: str
    camera_id: str
    camera_name: str
    start_time: float
    end_time: float
    metadata: dict[str, Any]
    event_id: str | None = None
    review: FrigateReview | None = None
    snapshot_event_id: str | None = None


class FrigateSource(ClipSource):
    """Turns Frigate events (or review items) into downloaded clips."""

    source_type = SOURCE_TYPE

    def __init__(
        self,
        *,
        client: FrigateClient,
        settings: FrigateSourceSettings,
        camera_for: CameraResolver,
        is_known: IsKnown,
        on_download_failed: DownloadFailed | None = None,
        on_live_detection: LiveReport | None = None,
        create_task: TaskFactory = default_task_factory,
        wall_clock: WallClock = time.time,
    ) -> None:
        self._client = client
        # Live `new`/`update` messages: each event's first match reported once (frigate_live).
        self._live = (
            FrigateLive(
                client=client,
                match=settings.match,
                camera_for=camera_for,
                report=on_live_detection,
                source_type=SOURCE_TYPE,
            )
            if on_live_detection is not None
            else None
        )
        self._settings = settings
        self._camera_for = camera_for
        self._is_known = is_known
        self._on_download_failed = on_download_failed
        self._create_task = create_task
        self._on_clip: ClipCallback | None = None
        self._claimed: set[str] = set()
        self._recent: deque[str] = deque(maxlen=_RECENT_IDS)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._downloads = asyncio.Semaphore(max(1, settings.max_concurrent_downloads))
        self._invalid_logged: set[str] = set()
        self.availability = Availability.UNKNOWN
        self.availability_changed_at: datetime | None = None
        self.last_event_id: str | None = None
        self.last_review_id: str | None = None
        self.last_message_at: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.last_skip_reason: str | None = None
        self.last_invalid_message: str | None = None
        self.clips_emitted = 0
        self.clips_download_failed = 0
        self.messages_skipped = 0
        self.messages_invalid = 0
        # Catch-up state (see the module docstring).
        self._now = wall_clock
        self._watermark: float | None = None
        self._stored_watermarks: dict[str, float] | None = None
        self._saved_watermark: float | None = None
        self._last_save = -math.inf
        self._save_lock = asyncio.Lock()
        self._in_sync = False
        self._open: dict[str, tuple[float, int]] = {}
        self._open_seq = 0
        self._ended: deque[str] = deque(maxlen=_RECENT_IDS)
        self._pending: dict[str, float] = {}
        self._frigate_clock: float | None = None
        self._catch_up_lock = asyncio.Lock()
        self._catch_up_again = False
        self._catch_up_failing = False
        self._detect_sizes: dict[str, tuple[int, int]] | None = None
        self.last_catch_up: CatchUpResult | None = None
        self.last_catch_up_at: datetime | None = None
        self.clips_caught_up = 0

    # -- ClipSource ----------------------------------------------------------------------

    async def start(self, on_clip: ClipCallback) -> None:
        self._on_clip = on_clip

    async def stop(self) -> None:
        self._on_clip = None
        if self._in_sync:
            # Before the downloads are cancelled: those in flight hold the watermark back.
            await self._save_watermark(force=True)
        self._in_sync = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._claimed.clear()
        self._pending.clear()
        self._open.clear()

    def diagnostics(self) -> dict[str, Any]:
        return {
            "url": self._client.base_url,
            "mode": self._settings.mode.value,
            "frigate_version": self._client.version_string,
            "availability": self.availability.value,
            "availability_changed_at": _iso(self.availability_changed_at),
            "last_api_success": _iso(self.last_api_success),
            "last_event_id": self.last_event_id,
            "last_review_id": self.last_review_id,
            "last_message_at": _iso(self.last_message_at),
            "downloads_in_flight": len(self._tasks),
            "clips_emitted": self.clips_emitted,
            "clips_download_failed": self.clips_download_failed,
            "messages_skipped": self.messages_skipped,
            "messages_invalid": self.messages_invalid,
            "last_skip_reason": self.last_skip_reason,
            "last_invalid_message": self.last_invalid_message,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "live": self._live.diagnostics() if self._live is not None else None,
            "catch_up": {
                "in_sync": self._in_sync,
                "watermark": _iso_epoch(self._saved_watermark),
                "last_at": _iso(self.last_catch_up_at),
                "last": asdict(self.last_catch_up) if self.last_catch_up else None,
                "clips_caught_up": self.clips_caught_up,
                "max_age_s": self._settings.catch_up_max_age_s,
                "max_events": self._settings.catch_up_max_events,
            },
        }

    # -- health --------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False while Frigate says it is offline or stopped."""
        return self.availability not in (Availability.OFFLINE, Availability.STOPPED)

    @property
    def client(self) -> FrigateClient:
        """The HTTP client (for `set_description` and diagnostics)."""
        return self._client

    @property
    def last_api_success(self) -> datetime | None:
        """When Frigate's API last answered successfully."""
        return self._client.last_success_at

    @property
    def running(self) -> bool:
        """True between start and stop."""
        return self._on_clip is not None

    @property
    def downloads_in_flight(self) -> int:
        """Clips being downloaded (or waiting for a download slot)."""
        return len(self._tasks)

    # -- messages from the glue ----------------------------------------------------------

    def handle_availability(self, payload: bytes | str) -> Availability:
        """`<prefix>/available`: online / offline / stopped."""
        try:
            value = parse_availability(payload)
        except FrigateMessageError as err:
            self._invalid(err)
            return self.availability
        if value is not self.availability:
            if value is Availability.ONLINE:
                _LOGGER.info("Frigate at %s is online", self._client.base_url)
            else:
                _LOGGER.warning("Frigate at %s is %s", self._client.base_url, value.value)
            self.availability = value
            self.availability_changed_at = datetime.now(UTC)
        return value

    async def handle_event_message(self, payload: bytes | str) -> str:
        """`<prefix>/events`; returns what was done with it (for logs and tests)."""
        try:
            message = parse_event_message(payload)
        except FrigateMessageError as err:
            return self._invalid(err)
        event = message.after
        self.last_event_id = event.id
        self.last_message_at = datetime.now(UTC)
        if self._settings.mode is not FrigateMode.EVENTS:
            return "ignored: reviews mode"
        ended = message.type == "end"
        self._observe(event.id, event.start_time, event.end_time, event.frame_time, ended=ended)
        if not ended:
            live = self._live.event(event) if self._live and self.running else None
            return live or f"ignored: {message.type}"
        outcome = await self._take_event(event)
        await self._save_watermark()
        return outcome

    async def _take_event(self, event: FrigateEvent) -> str:
        """A finished tracked object (an `end` message or a catch-up row)."""
        if not self.running:
            return "ignored: source not running"
        ok, reason = match_event(event, self._settings.match)
        if not ok:
            return self._skip(f"event {event.id}", reason)
        if not event.has_clip:
            return self._skip(f"event {event.id}", "Frigate recorded no clip")
        mapped = self._camera_for(event.camera)
        if mapped is None:
            return self._skip(f"event {event.id}", f"camera {event.camera!r} not mapped")
        job = self._event_job(event, *mapped)
        return await self._claim(job)

    async def handle_review_message(self, payload: bytes | str) -> str:
        """`<prefix>/reviews` (Frigate 0.14+); returns what was done with it."""
        try:
            message = parse_review_message(payload)
        except FrigateMessageError as err:
            return self._invalid(err)
        review = message.after
        self.last_review_id = review.id
        self.last_message_at = datetime.now(UTC)
        if self._settings.mode is not FrigateMode.REVIEWS:
            return "ignored: events mode"
        ended = message.type == "end"
        self._observe(review.id, review.start_time, review.end_time, None, ended=ended)
        if not ended:
            live = (
                self._live.review(review)
                if self._live and self.running and message.type in _LIVE_TYPES
                else None
            )
            return live or f"ignored: {message.type}"
        outcome = await self._take_review(review)
        await self._save_watermark()
        return outcome

    async def _take_review(self, review: FrigateReview) -> str:
        """A finished review item (an `end` message or a catch-up row)."""
        if not self.running:
            return "ignored: source not running"
        ok, reason = match_review(review, self._settings.match)
        if not ok:
            return self._skip(f"review {review.id}", reason)
        if review.end_time is None:
            return self._skip(f"review {review.id}", "no end time")
        mapped = self._camera_for(review.camera)
        if mapped is None:
            return self._skip(f"review {review.id}", f"camera {review.camera!r} not mapped")
        job = self._review_job(review, *mapped)
        return await self._claim(job)

    # -- jobs ----------------------------------------------------------------------------

    def _event_job(self, event: FrigateEvent, camera_id: str, camera_name: str) -> _Job:
        padding = self._settings.padding_s
        end_time = event.end_time if event.end_time is not None else event.start_time
        offset = None
        if event.frame_time is not None:
            offset = round(max(0.0, event.frame_time - event.start_time + padding), 3)
        metadata: dict[str, Any] = {
            META_EVENT_ID: event.id,
            # The event's live alert (from its `new`/`update`) is updated by this clip's.
            EVENT_KEY: event.id,
            META_CAMERA: event.camera,
            META_LABEL: event.label,
            META_LABELS: [event.label] if event.label else [],
            META_SUB_LABEL: event.sub_label,
            META_SUB_LABEL_SCORE: event.sub_label_score,
            META_TOP_SCORE: event.top_score,
            META_SCORE: event.score,
            META_ZONES: list(event.zones),
            META_CURRENT_ZONES: list(event.current_zones),
            META_BOX: list(event.box) if event.box else None,
            META_REGION: list(event.region) if event.region else None,
            META_HAS_SNAPSHOT: event.has_snapshot,
            META_SNAPSHOT_OFFSET_S: offset,
            META_PADDING_S: padding,
        }
        return _Job(
            clip_id=event_clip_id(event.id),
            frigate_id=event.id,
            camera=event.camera,
            camera_id=camera_id,
            camera_name=camera_name,
            start_time=event.start_time,
            end_time=end_time,
            metadata=metadata,
            event_id=event.id,
            snapshot_event_id=event.id if event.has_snapshot else None,
        )

    def _review_job(self, review: FrigateReview, camera_id: str, camera_name: str) -> _Job:
        assert review.end_time is not None
        labels = review.labels
        metadata: dict[str, Any] = {
            META_REVIEW_ID: review.id,
            EVENT_KEY: review.id,
            META_SEVERITY: review.severity,
            META_CAMERA: review.camera,
            META_LABEL: labels[0] if labels else None,
            META_LABELS: list(labels),
            META_SUB_LABEL: review.sub_labels[0] if review.sub_labels else None,
            META_SUB_LABELS: list(review.sub_labels),
            META_ZONES: list(review.zones),
            META_DETECTIONS: list(review.detections),
            META_PADDING_S: self._settings.padding_s,
        }
        return _Job(
            clip_id=review_clip_id(review.id),
            frigate_id=review.id,
            camera=review.camera,
            camera_id=camera_id,
            camera_name=camera_name,
            start_time=review.start_time,
            end_time=review.end_time,
            metadata=metadata,
            review=review,
            snapshot_event_id=review.detections[0] if review.detections else None,
        )

    async def _claim(self, job: _Job) -> str:
        """Dedupe (in flight, recent, then the store) and schedule the download."""
        if job.clip_id in self._claimed:
            return self._skip(job.clip_id, "already downloading")
        if job.clip_id in self._recent:
            return self._skip(job.clip_id, "already emitted")
        self._claimed.add(job.clip_id)
        try:
            known = await self._is_known(job.clip_id)
        except BaseException:
            self._claimed.discard(job.clip_id)
            raise
        if known:
            self._claimed.discard(job.clip_id)
            return self._skip(job.clip_id, "already known")
        if not self.running:
            self._claimed.discard(job.clip_id)
            return "ignored: source not running"
        task = self._create_task(self._download(job), f"homesec frigate {job.clip_id}")
        self._tasks[job.clip_id] = task
        self._pending[job.clip_id] = job.start_time
        task.add_done_callback(functools.partial(self._done, job.clip_id))
        return "download scheduled"

    def _done(self, clip_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(clip_id, None)
        self._claimed.discard(clip_id)
        self._pending.pop(clip_id, None)

    async def _download(self, job: _Job) -> None:
        try:
            await self._download_and_emit(job)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a bug must not kill the source
            _LOGGER.exception("Unexpected error downloading Frigate clip %s", job.clip_id)
            self._failed(job, REASON_INTERNAL_ERROR, str(err) or type(err).__name__)

    async def _download_and_emit(self, job: _Job) -> None:
        settings = self._settings
        folder = settings.clip_dir / safe_name(job.camera)
        dest = folder / f"{job.clip_id}.mp4"
        try:
            download = await self._fetch(job, dest)
        except FrigateError as err:
            self._failed(job, err.reason, f"{err} (after {err.attempts} attempt(s))")
            return
        record = dest.with_suffix(HANDOVER_SUFFIX)
        try:
            clip = await self._downloaded_clip(job, download, record)
        except BaseException:
            # Without its hand-over record nothing would ever take the clip (or delete it):
            # whatever failed (a bug, a full disk, a cancellation), the files go.
            await _remove(download.path, dest.with_suffix(".jpg"), record)
            raise
        if not await self._hand_over(clip, record):
            return
        self._recent.append(job.clip_id)
        self.clips_emitted += 1
        _LOGGER.debug(
            "Frigate clip %s emitted (%s bytes, %s attempt(s)%s)",
            job.clip_id,
            download.size_bytes,
            download.attempts,
            ", truncated" if download.truncated else "",
        )

    async def _downloaded_clip(self, job: _Job, download: ClipDownload, record: Path) -> Clip:
        """The clip, with its snapshot saved and its hand-over record written next to it: if
        the pipeline cannot take the clip now (store error, Home Assistant stopping),
        `recover()` hands it over at the next start."""
        metadata = dict(job.metadata)
        metadata[META_SIZE_BYTES] = download.size_bytes
        metadata[META_DURATION_S] = download.duration_s
        metadata[META_TRUNCATED] = download.truncated
        snapshot = await self._save_snapshot(job, download.path.with_suffix(".jpg"))
        metadata[META_SNAPSHOT_PATH] = str(snapshot) if snapshot else None
        clip = Clip(
            clip_id=job.clip_id,
            camera_id=job.camera_id,
            camera_name=job.camera_name,
            source_type=SOURCE_TYPE,
            path=download.path,
            start_ts=datetime.fromtimestamp(job.start_time, tz=UTC),
            end_ts=datetime.fromtimestamp(max(job.start_time, job.end_time), tz=UTC),
            metadata=metadata,
        )
        await asyncio.get_running_loop().run_in_executor(
            None, _write_atomic, record, json.dumps(clip.to_dict()).encode()
        )
        return clip

    async def _hand_over(self, clip: Clip, record: Path) -> bool:
        """Give the clip to the pipeline; the record is removed once it has it."""
        on_clip = self._on_clip
        if on_clip is None:
            _LOGGER.debug("Frigate clip %s kept for the next start", clip.clip_id)
            return False
        try:
            await on_clip(clip)
        except Exception as err:  # noqa: BLE001 - keep the source alive; recover() retries
            self._record_error(f"{clip.camera_name}: could not queue {clip.clip_id}: {err}")
            _LOGGER.warning(
                "Could not queue Frigate clip %s (kept for the next start): %s", clip.clip_id, err
            )
            return False
        await _remove(record)
        return True

    async def recover(self) -> int:
        """Hand over clips downloaded by an earlier run that the pipeline never received."""
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(None, _read_records, self._settings.clip_dir)
        recovered = 0
        for record, clip in records:
            if clip is None:
                _LOGGER.warning("Ignoring damaged Frigate hand-over record %s", record)
                continue
            if await self._hand_over(clip, record):
                recovered += 1
        return recovered

    # -- catch-up -----------------------------------------------------------------------

    def connection_lost(self) -> None:
        """MQTT (or Frigate) went away: live messages no longer advance the watermark."""
        self._in_sync = False

    async def catch_up(self) -> CatchUpResult:
        """Take what Frigate finished since the watermark (see the module docstring).

        Never raises for Frigate or store trouble: the result says `failed` (also logged)
        and the next call (the glue's next start, reconnect or online) tries again. A call
        while one runs makes that one run once more and returns `queued`.
        """
        if self._settings.catch_up_max_events <= 0:
            return CatchUpResult("disabled")
        if self._catch_up_lock.locked():
            self._catch_up_again = True
            return CatchUpResult("queued")
        async with self._catch_up_lock:
            while True:
                self._catch_up_again = False
                result = await self._catch_up_once()
                self.last_catch_up = result
                if result.status != "not running":
                    self.last_catch_up_at = datetime.now(UTC)
                if not self._catch_up_again or not self.running:
                    return result

    async def _catch_up_once(self) -> CatchUpResult:
        if not self.running:
            return CatchUpResult("not running")
        what = "review items" if self._settings.mode is FrigateMode.REVIEWS else "events"
        try:
            await self._load_watermark()
            now = self._now()
            floor = now - self._settings.catch_up_max_age_s
            start = self._watermark if self._watermark is not None else now - WATERMARK_MARGIN_S
            # Items seen starting live but not ended are asked for again, whatever the mark.
            opened = [started for started, _added in self._open.values() if started > floor]
            if opened:
                start = min(start, min(opened) - _HOLD_EPSILON_S)
            after = max(start, floor)
            seq = self._open_seq
            rows = await self._fetch_since(after)
            result = await self._take_rows(rows, after, seq)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # Frigate or the store: logged, retried next time
            self._in_sync = False
            message = str(err) or type(err).__name__
            self._record_error(f"catch-up: {message}")
            if not isinstance(err, PipelineError):
                _LOGGER.exception("Unexpected error catching up on Frigate %s", what)
            elif not self._catch_up_failing:
                _LOGGER.warning(
                    "Cannot catch up on Frigate %s missed at %s: %s (retried at the next MQTT "
                    "reconnect or when Frigate is back online)",
                    what,
                    self._client.base_url,
                    message,
                )
            else:
                _LOGGER.debug("Frigate catch-up failed again: %s", message)
            self._catch_up_failing = True
            reason = err.reason if isinstance(err, FrigateError) else REASON_INTERNAL_ERROR
            return CatchUpResult("failed", error=f"{reason}: {message}")
        self._catch_up_failing = False
        if result.status == "done":
            self._in_sync = True
            self._watermark = after if self._watermark is None else max(self._watermark, after)
            await self._save_watermark(force=True)
        if result.capped:
            _LOGGER.warning(
                "Frigate at %s has more %s since %s than the catch-up limit (%s): took the "
                "newest, left the older ones",
                self._client.base_url,
                what,
                _iso_epoch(after),
                self._settings.catch_up_max_events,
            )
        log = _LOGGER.info if result.scheduled else _LOGGER.debug
        log(
            "Frigate at %s: caught up on %s missed %s since %s (%s already known, %s skipped, "
            "%s in progress)",
            self._client.base_url,
            result.scheduled,
            what,
            _iso_epoch(after),
            result.known,
            result.skipped,
            result.in_progress,
        )
        return result

    async def _fetch_since(self, after: float) -> list[dict[str, Any]]:
        match = self._settings.match
        limit = self._settings.catch_up_max_events
        if self._settings.mode is FrigateMode.EVENTS:
            return await self._client.events_since(
                after, cameras=match.cameras, labels=match.labels, limit=limit, has_clip=True
            )
        severity = next(iter(match.severities)) if len(match.severities) == 1 else None
        return await self._client.reviews_since(
            after, cameras=match.cameras, labels=match.labels, severity=severity, limit=limit
        )

    async def _take_rows(self, rows: list[dict[str, Any]], after: float, seq: int) -> CatchUpResult:
        """Read Frigate's rows, refresh what is in progress, take the finished ones (oldest
        first) as `end` messages."""
        reviews = self._settings.mode is FrigateMode.REVIEWS
        capped = len(rows) >= self._settings.catch_up_max_events
        if not reviews and self._detect_sizes is None and any(_has_box(r) for r in rows):
            self._detect_sizes = await self._read_detect_sizes()
        sizes = self._detect_sizes or {}
        items: list[FrigateEvent | FrigateReview] = []
        invalid = 0
        for raw in rows:
            try:
                items.append(
                    _review_from_api(raw)
                    if reviews
                    else _event_from_api(raw, sizes.get(str(raw.get("camera"))))
                )
            except (FrigateMessageError, TypeError, ValueError) as err:
                invalid += 1
                _LOGGER.debug("Ignoring an unreadable Frigate catch-up row: %s", err)
        items.sort(key=lambda item: item.start_time)
        # What is still open: Frigate's view replaces ours for the range the answer covers
        # (entries added by live messages since the request stay).
        covered_from = items[0].start_time if capped and items else after
        in_progress = {item.id: item.start_time for item in items if item.end_time is None}
        for item_id, (started, added) in list(self._open.items()):
            if added <= seq and started > covered_from and item_id not in in_progress:
                del self._open[item_id]
        for item_id, started in in_progress.items():
            if item_id not in self._ended and item_id not in self._open:
                self._open[item_id] = (started, self._next_seq())
        scheduled = known = skipped = 0
        for item in items:
            self._observe_clock(item.start_time, item.end_time)
            if item.end_time is None:
                continue
            if isinstance(item, FrigateReview):
                outcome = await self._take_review(item)
            else:
                outcome = await self._take_event(item)
            if outcome == "ignored: source not running":
                return CatchUpResult("not running", after=after, fetched=len(rows))
            if outcome == "download scheduled":
                scheduled += 1
                self.clips_caught_up += 1
            elif outcome.startswith("skipped: already"):
                known += 1
            else:
                skipped += 1
        return CatchUpResult(
            "done",
            after=after,
            fetched=len(rows),
            scheduled=scheduled,
            known=known,
            skipped=skipped,
            in_progress=len(in_progress),
            invalid=invalid,
            capped=capped,
        )

    async def _read_detect_sizes(self) -> dict[str, tuple[int, int]]:
        """Detect resolution per camera (API boxes are relative; clip metadata has pixels)."""
        try:
            config = await self._client.config()
        except FrigateError as err:
            _LOGGER.debug("No Frigate config for catch-up boxes: %s", err)
            return {}
        return {
            camera.name: (camera.detect_width, camera.detect_height)
            for camera in config.cameras
            if camera.detect_width and camera.detect_height
        }

    # -- watermark -----------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._open_seq += 1
        return self._open_seq

    def _observe_clock(self, *times: float | None) -> None:
        for value in times:
            if value is not None and (self._frigate_clock is None or value > self._frigate_clock):
                self._frigate_clock = value

    def _observe(
        self,
        item_id: str,
        start: float,
        end: float | None,
        frame_time: float | None,
        *,
        ended: bool,
    ) -> None:
        """A live message: Frigate's clock, and what is in progress."""
        self._observe_clock(start, end, frame_time)
        if ended:
            self._open.pop(item_id, None)
            self._ended.append(item_id)
            return
        if item_id not in self._open:
            self._open[item_id] = (start, self._next_seq())
            if len(self._open) > _RECENT_IDS:
                oldest = min(self._open, key=lambda key: self._open[key][0])
                del self._open[oldest]

    def _watermark_now(self) -> float | None:
        """The watermark as of now (None: nothing known yet)."""
        mark = self._watermark
        if self._frigate_clock is not None:
            seen = self._frigate_clock - WATERMARK_MARGIN_S
            mark = seen if mark is None else max(mark, seen)
        floor = self._now() - self._settings.catch_up_max_age_s
        for item_id, (started, _added) in list(self._open.items()):
            if started <= floor:  # beyond the look-back: a catch-up could not take it anyway
                del self._open[item_id]
        holds = [started for started, _added in self._open.values()]
        holds.extend(started for started in self._pending.values() if started > floor)
        if holds:
            held = min(holds) - _HOLD_EPSILON_S
            mark = held if mark is None else min(mark, held)
        return mark

    @property
    def watermark(self) -> float | None:
        """The last watermark written (epoch seconds), None before the first."""
        return self._saved_watermark

    def _watermark_path(self) -> Path:
        return self._settings.clip_dir / WATERMARK_FILE

    async def _load_watermark(self) -> None:
        if self._stored_watermarks is not None:
            return
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(None, _read_watermarks, self._watermark_path())
        self._stored_watermarks = stored
        mark = stored.get(self._settings.mode.value)
        if mark is not None and self._watermark is None:
            self._watermark = self._saved_watermark = mark

    async def _save_watermark(self, *, force: bool = False) -> None:
        """Write the watermark when in sync and it moved (throttled unless `force`)."""
        if not self._in_sync or self._stored_watermarks is None:
            return
        if not force and time.monotonic() - self._last_save < (
            self._settings.catch_up_save_interval_s
        ):
            return
        async with self._save_lock:
            mark = self._watermark_now()
            if mark is None or mark == self._saved_watermark:
                return
            stored = {**self._stored_watermarks, self._settings.mode.value: mark}
            data = json.dumps({"version": 1, "watermarks": stored}).encode()
            try:
                await asyncio.get_running_loop().run_in_executor(
                    None, _write_atomic, self._watermark_path(), data
                )
            except OSError as err:
                _LOGGER.warning("Cannot write the Frigate catch-up watermark: %s", err)
                return
            self._stored_watermarks = stored
            self._saved_watermark = mark
            self._last_save = time.monotonic()
            # While in sync a written mark is also where the next catch-up starts from.
            self._watermark = mark if self._watermark is None else max(self._watermark, mark)

    async def _fetch(self, job: _Job, dest: Path) -> ClipDownload:
        settings = self._settings
        common: dict[str, Any] = {
            "window_s": settings.download_window_s,
            "size_cap_bytes": settings.size_cap_bytes,
            "first_delay_s": settings.first_delay_s,
            "retry_delay_s": settings.retry_delay_s,
            "max_retry_delay_s": settings.max_retry_delay_s,
            "accept_truncated": settings.accept_truncated,
            # Only transfers take a slot: a clip waiting for Frigate's recordings (the first
            # delay, retries) never holds back another event's clip.
            "slot": self._downloads,
        }
        if job.review is not None:
            return await self._client.download_review_clip(
                job.camera,
                job.start_time - settings.padding_s,
                job.end_time + settings.padding_s,
                dest,
                **common,
            )
        assert job.event_id is not None
        return await self._client.download_event_clip(
            job.event_id,
            dest,
            padding_s=settings.padding_s or None,
            expected_duration_s=max(0.0, job.end_time - job.start_time),
            **common,
        )

    async def _save_snapshot(self, job: _Job, path: Path) -> Path | None:
        """Frigate's snapshot next to the clip; best effort."""
        if not self._settings.save_snapshots or job.snapshot_event_id is None:
            return None
        try:
            jpeg = await self._client.snapshot(job.snapshot_event_id)
            if not jpeg:
                return None
            await asyncio.get_running_loop().run_in_executor(None, _write_atomic, path, jpeg)
        except (FrigateError, OSError) as err:
            _LOGGER.debug("No Frigate snapshot for %s: %s", job.clip_id, err)
            return None
        return path

    # -- bookkeeping ---------------------------------------------------------------------

    def _failed(self, job: _Job, reason: str, message: str) -> None:
        self.clips_download_failed += 1
        self._record_error(f"{job.camera}: {job.frigate_id}: {reason}: {message}")
        _LOGGER.warning(
            "Gave up on the Frigate clip of %s (camera %s): %s (%s)",
            job.frigate_id,
            job.camera,
            reason,
            message,
        )
        if self._on_download_failed is not None:
            try:
                self._on_download_failed(job.frigate_id, job.camera, reason)
            except Exception:  # a listener must not break the source
                _LOGGER.exception("on_download_failed listener failed")

    def _record_error(self, message: str) -> None:
        self.last_error = message
        self.last_error_at = datetime.now(UTC)

    def _skip(self, what: str, reason: str) -> str:
        self.messages_skipped += 1
        self.last_skip_reason = f"{what}: {reason}"
        _LOGGER.debug("Frigate %s skipped: %s", what, reason)
        return f"skipped: {reason}"

    def _invalid(self, err: FrigateMessageError) -> str:
        self.messages_invalid += 1
        self.last_invalid_message = f"{err.kind}: {err.reason}"
        if err.kind not in self._invalid_logged:
            self._invalid_logged.add(err.kind)
            _LOGGER.warning(
                "Ignoring an invalid message on Frigate's %s topic: %s; payload: %s "
                "(further invalid messages are logged at debug level)",
                err.kind,
                err.reason,
                err.excerpt,
            )
        else:
            _LOGGER.debug("Invalid Frigate %s message: %s", err.kind, err.reason)
        return f"invalid: {err.reason}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _iso_epoch(value: float | None) -> str | None:
    return datetime.fromtimestamp(value, tz=UTC).isoformat() if value is not None else None


def _read_watermarks(path: Path) -> dict[str, float]:
    """The watermarks per mode; {} when the file is missing or damaged."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        _LOGGER.warning("Ignoring the damaged Frigate catch-up watermark %s: %s", path, err)
        return {}
    marks = data.get("watermarks") if isinstance(data, dict) else None
    if not isinstance(marks, dict):
        return {}
    return {
        str(mode): float(value)
        for mode, value in marks.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    }


def _has_box(raw: dict[str, Any]) -> bool:
    data = raw.get("data")
    return isinstance(data, dict) and data.get("box") is not None


def _pixels(value: Any, size: tuple[int, int] | None) -> list[int] | None:
    """Frigate's database box `[x, y, w, h]` (relative) as the MQTT box `[x1, y1, x2, y2]`
    in detect-resolution pixels."""
    if size is None or not isinstance(value, list | tuple) or len(value) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    if not all(math.isfinite(v) for v in value):
        return None
    width, height = size
    x, y, w, h = (float(v) for v in value)
    return [round(x * width), round(y * height), round((x + w) * width), round((y + h) * height)]


def _event_from_api(raw: dict[str, Any], size: tuple[int, int] | None) -> FrigateEvent:
    """A `GET /api/events` row (Frigate's database row) read as an MQTT `after` object.

    The row has `zones` (the entered zones), `sub_label` as a string and the rest under
    `data`: `top_score`, `score`, `box` and `region` (relative), `attributes` (a list of
    {label, score, box}), `max_severity` (0.15+), `sub_label_score`, `snapshot_frame_time`
    (after 0.17). The top-level `top_score`, `box` and `false_positive` are legacy columns
    (null since 0.14), used only when `data` has nothing.
    """
    data = raw.get("data")
    data = data if isinstance(data, dict) else {}
    after: dict[str, Any] = {
        key: raw[key]
        for key in ("id", "camera", "label", "start_time", "end_time", "has_clip", "has_snapshot")
        if key in raw
    }
    if isinstance(raw.get("false_positive"), bool):
        after["false_positive"] = raw["false_positive"]
    after["entered_zones"] = raw.get("zones") or []
    for key in ("top_score", "score"):
        value = data.get(key)
        after[key] = value if value is not None else raw.get(key)
    after["attributes"] = data.get("attributes") or {}
    after["max_severity"] = data.get("max_severity")
    sub_label = raw.get("sub_label")
    if isinstance(sub_label, str) and sub_label:
        after["sub_label"] = [sub_label, data.get("sub_label_score")]
    frame_time = data.get("snapshot_frame_time")
    if isinstance(frame_time, int | float) and not isinstance(frame_time, bool):
        after["snapshot"] = {"frame_time": frame_time}
    after["box"] = _pixels(data.get("box", raw.get("box")), size)
    after["region"] = _pixels(data.get("region"), size)
    return parse_event_message(json.dumps({"type": "end", "after": after})).after


def _review_from_api(raw: dict[str, Any]) -> FrigateReview:
    """A `GET /api/review` row: the MQTT review `after` shape already."""
    return parse_review_message(json.dumps({"type": "end", "after": raw})).after


def _read_records(folder: Path) -> list[tuple[Path, Clip | None]]:
    """Hand-over records left in the clip folder (None for an unreadable one)."""
    found: list[tuple[Path, Clip | None]] = []
    for record in sorted(folder.glob(f"*/*{HANDOVER_SUFFIX}")):
        try:
            clip = Clip.from_dict(json.loads(record.read_text()))
        except (OSError, KeyError, TypeError, ValueError):
            found.append((record, None))
            continue
        found.append((record, clip if clip.path.is_file() else None))
    return found


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.part")
    temp.write_bytes(data)
    os.replace(temp, path)


async def _remove(*paths: Path | None) -> None:
    def _unlink() -> None:
        for path in paths:
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)

    await asyncio.get_running_loop().run_in_executor(None, _unlink)
