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
factory (cancelled on stop), a few at a time, and retry within a window while Frigate's
recordings catch up (see `frigate_client`). A download that gives up is counted, kept as
`last_error` and reported through `on_download_failed(frigate_id, camera, reason)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..interfaces import ClipCallback, ClipSource, TaskFactory, default_task_factory
from ..models import Clip
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
        create_task: TaskFactory = default_task_factory,
    ) -> None:
        self._client = client
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

    # -- ClipSource ----------------------------------------------------------------------

    async def start(self, on_clip: ClipCallback) -> None:
        self._on_clip = on_clip

    async def stop(self) -> None:
        self._on_clip = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._claimed.clear()

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
        if message.type != "end":
            return f"ignored: {message.type}"
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
        if message.type != "end":
            return f"ignored: {message.type}"
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
        task.add_done_callback(functools.partial(self._done, job.clip_id))
        return "download scheduled"

    def _done(self, clip_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(clip_id, None)
        self._claimed.discard(clip_id)

    async def _download(self, job: _Job) -> None:
        async with self._downloads:
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
        metadata = dict(job.metadata)
        metadata[META_SIZE_BYTES] = download.size_bytes
        metadata[META_DURATION_S] = download.duration_s
        metadata[META_TRUNCATED] = download.truncated
        snapshot = await self._save_snapshot(job, dest.with_suffix(".jpg"))
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
        # A hand-over record next to the clip: if the pipeline cannot take the clip now (store
        # error, Home Assistant stopping), `recover()` hands it over at the next start.
        record = dest.with_suffix(HANDOVER_SUFFIX)
        await asyncio.get_running_loop().run_in_executor(
            None, _write_atomic, record, json.dumps(clip.to_dict()).encode()
        )
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

    async def _fetch(self, job: _Job, dest: Path) -> ClipDownload:
        settings = self._settings
        common: dict[str, Any] = {
            "window_s": settings.download_window_s,
            "size_cap_bytes": settings.size_cap_bytes,
            "first_delay_s": settings.first_delay_s,
            "retry_delay_s": settings.retry_delay_s,
            "max_retry_delay_s": settings.max_retry_delay_s,
            "accept_truncated": settings.accept_truncated,
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
