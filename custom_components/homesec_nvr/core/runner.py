"""The clip pipeline runner.

ClipSource -> (upload || filter) -> VLM (by run mode) -> alert policy -> notifiers (parallel)

Bounded concurrency (clips in flight and per-stage workers), per-stage retries with
exponential backoff, an event in the store for every stage attempt, and resumable state: a clip
that was queued or mid-pipeline when Home Assistant stopped is picked up again on start and
continues from the last stage it finished, so it completes exactly once.

What never stops a clip or repeats an alert:
- a transient store fault (locked, busy, full disk, I/O error) is retried with backoff around
  every store call until the store is back (`store_unavailable_since`, `store_faults`);
- on resume only notifiers without a stored notification_sent are called; every stage report
  is tied to the write that stores it; stopping lets writes and notifications on their way land;
- clips are taken from a queue by `max_clips_in_flight` workers; a worker that dies of a bug is
  reported (`worker_restarts`, `last_worker_failure`) and restarted with backoff;
- a source is deleted only if it is still exactly what was stored (size, mtime, a hash of its
  ends); one that grew since is kept and stored again by the catch-up job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .alert_policy import AlertPolicySettings
from .grouping import INCIDENT_CAMERA_IDS, INCIDENT_CAMERAS
from .incident_batches import (
    INCIDENT_ALERTED_WITH,
    INCIDENT_LEAD,
    IncidentBatch,
    IncidentBatches,
    IncidentSettings,
)
from .interfaces import (
    AlertPolicy,
    IncidentClip,
    Notifier,
    ObjectFilter,
    PermanentError,
    PipelineError,
    StageSkipped,
    StorageBackend,
    TaskFactory,
    VLMAnalyzer,
    default_task_factory,
)
from .live_alerts import LiveAlerts
from .models import (
    EVENT_KEY,
    Alert,
    AlertDecision,
    AnalysisResult,
    Clip,
    ClipEvent,
    ClipEventType,
    ClipState,
    ClipStatus,
    FilterResult,
    SourceFingerprint,
    VLMRunMode,
)
from .store import ClipStore, StoreError, StoreTransientError

# Bytes hashed at each end of a source file for its fingerprint.
FINGERPRINT_EDGE_BYTES = 64 * 1024


class SourceChangedError(PipelineError):
    """The clip file changed while (or after) it was stored: it is stored again."""


_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

SnapshotMaker = Callable[[Clip], Awaitable[bytes | None]]


class PipelineListener(Protocol):
    """Receives progress of every clip (the Home Assistant glue implements it)."""

    def clip_updated(self, state: ClipState, stage: str) -> None:
        """Called on the event loop after `stage` finished for a clip.

        Stages: clip_recorded, objects_detected, analyzed, alert, finished.
        """

    def counters_changed(self) -> None:
        """Called on the event loop when clips queued or in flight changed."""


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Attempts and exponential backoff of one stage."""

    max_attempts: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Backoff before attempt `attempt + 1` (with up to 10% jitter)."""
        delay = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return delay * (1.0 + random.random() * 0.1)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True, slots=True)
class StoreRetrySettings:
    """How the runner waits out a transient store fault (locked, busy, full disk, I/O error).

    Inside a clip's pipeline a store call is retried until it succeeds (or the runner stops):
    the fault never decides the clip's fate. `submit_deadline_s` bounds the wait of calls a
    source or Home Assistant awaits (submit, resume, the catch-up job); after it they raise
    StoreTransientError (the source keeps its file and hands it over again later).
    `stop_grace_s` is how long stopping waits for a write that records an action already
    taken (a sent notification), so a restart does not repeat it.
    """

    base_delay_s: float = 0.2
    max_delay_s: float = 30.0
    submit_deadline_s: float = 10.0
    stop_grace_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Backoff before retry number `attempt` (with up to 10% jitter)."""
        delay = min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempt - 1, 30))
        return delay * (1.0 + random.random() * 0.1)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between restarts (with up to 10% jitter)."""

    base_delay_s: float = 1.0
    max_delay_s: float = 60.0

    def delay(self, attempt: int) -> float:
        """Wait before restart number `attempt`."""
        delay = min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempt - 1, 30))
        return delay * (1.0 + random.random() * 0.1)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Concurrency and retry settings of the runner."""

    max_clips_in_flight: int = 2
    upload_workers: int = 2
    filter_workers: int = 1
    vlm_workers: int = 1
    notify_workers: int = 4
    retry: RetrySettings = field(default_factory=RetrySettings)
    store_retry: StoreRetrySettings = field(default_factory=StoreRetrySettings)
    # Restart of a clip worker that died of an unexpected exception.
    worker_restart: Backoff = field(default_factory=Backoff)


# A clip whose processing killed its worker this many times is left for the next start.
MAX_WORKER_CRASHES_PER_CLIP = 3


@dataclass(slots=True, eq=False)
class _Job:
    """A clip accepted by the runner and not finished in this run."""

    state: ClipState
    crashes: int = 0
    # Its incident batch closed (core/incident_batches.py): it is analysed now, not parked.
    waited: bool = False
    # The lead of a batch of several: the batch's other clips, parked until it hands over.
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CameraPipelineSettings:
    """Per-camera pipeline behaviour."""

    vlm_run_mode: VLMRunMode = VLMRunMode.TRIGGER_ONLY
    alert: AlertPolicySettings = field(default_factory=AlertPolicySettings)
    delete_source_after_store: bool = False


class ClipPipeline:
    """Runs clips through the stages; owns the in-flight tasks."""

    def __init__(
        self,
        *,
        store: ClipStore,
        storage: StorageBackend,
        filters: Callable[[str], ObjectFilter],
        vlm: VLMAnalyzer | None,
        policy: AlertPolicy,
        notifiers: Sequence[Notifier],
        settings: PipelineSettings,
        camera_settings: Callable[[str], CameraPipelineSettings],
        snapshot: SnapshotMaker,
        listener: PipelineListener,
        create_task: TaskFactory | None = None,
        live: LiveAlerts | None = None,
        incidents: IncidentSettings | None = None,
    ) -> None:
        self._live = live
        self._store = store
        self._storage = storage
        self._filters = filters
        self._vlm = vlm
        self._policy = policy
        self._notifiers = list(notifiers)
        self._settings = settings
        self._camera_settings = camera_settings
        self._snapshot = snapshot
        self._listener = listener
        self._create_task: TaskFactory = create_task or default_task_factory
        # Clips of a camera group's incident wait for the group's other cameras (parked: in
        # _pending, in no worker) and are analysed together.
        self._batches = (
            IncidentBatches(incidents, self._incident_closed, self._create_task)
            if incidents is not None
            else None
        )
        self._stage_limits: dict[str, asyncio.Semaphore] = {
            "upload": asyncio.Semaphore(settings.upload_workers),
            "filter": asyncio.Semaphore(settings.filter_workers),
            "vlm": asyncio.Semaphore(settings.vlm_workers),
            "notify": asyncio.Semaphore(settings.notify_workers),
        }
        # Clips accepted and not finished in this run, and the long-lived workers taking them
        # from the queue one at a time (max_clips_in_flight of them).
        self._pending: dict[str, _Job] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._running: set[str] = set()
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._worker_clip: dict[int, str] = {}
        self._worker_failures: dict[int, int] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._retry_uploads_lock = asyncio.Lock()
        self._stopped = False
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        # Store health: set while a store call is being retried (a locked or full database).
        self.store_unavailable_since: datetime | None = None
        self.store_last_error: str | None = None
        self.store_faults = 0
        # Notifier health: notifier name -> why its last alert could not be delivered.
        self.notifier_failures: dict[str, str] = {}
        # Worker health: a worker that died of an unexpected exception is restarted.
        self.worker_restarts = 0
        self.last_worker_failure: str | None = None
        self.last_worker_failure_at: datetime | None = None

    # -- public API ------------------------------------------------------------------

    @property
    def clips_in_flight(self) -> int:
        """Clips currently being processed."""
        return len(self._running)

    @property
    def clips_queued(self) -> int:
        """Clips accepted but waiting for a free slot (or for their incident's cameras)."""
        return len(self._pending) - len(self._running)

    @property
    def clips_waiting_for_incident(self) -> int:
        """Clips waiting in an incident batch for their group's other cameras."""
        return self._batches.waiting() if self._batches is not None else 0

    async def submit(self, clip: Clip) -> bool:
        """Accept a new clip. False when the clip id is already known (duplicate).

        A store fault (locked, busy, full disk) is retried for up to the store retry's
        `submit_deadline_s`; after that StoreTransientError is raised and nothing was
        recorded, so the source keeps its file and hands it over again. Only typed
        StoreError subclasses leave this method, never raw sqlite3 errors.
        """
        if self._stopped:
            return False
        now = datetime.now(UTC)
        state = ClipState(
            clip_id=clip.clip_id,
            camera_id=clip.camera_id,
            camera_name=clip.camera_name,
            source_type=clip.source_type,
            source_path=str(clip.path),
            status=ClipStatus.QUEUED,
            start_ts=clip.start_ts,
            end_ts=clip.end_ts,
            created_at=now,
            updated_at=now,
            metadata=dict(clip.metadata),
        )
        recorded = ClipEvent(
            clip_id=clip.clip_id,
            event_type=ClipEventType.CLIP_RECORDED,
            timestamp=now,
            data={"camera": clip.camera_name, "path": str(clip.path), "source": clip.source_type},
        )
        existing = await self._store_call(
            lambda: self._store.insert_clip(state, recorded),
            "record a new clip",
            deadline_s=self._settings.store_retry.submit_deadline_s,
        )
        if existing is not None:
            if existing.status.finished or clip.clip_id in self._pending or self._stopped:
                _LOGGER.debug("Clip %s already known; not processed again", clip.clip_id)
                return False
            # Known but unfinished and not in flight (its hand-over was retried after a
            # fault): process it now rather than leave it until the next start.
            await self._event(
                clip.clip_id, ClipEventType.CLIP_RESUMED, data={"status": existing.status.value}
            )
            self._schedule(existing)
            return True
        self._tell(state, "clip_recorded")
        self._schedule(state)
        return True

    async def resume_unfinished(self, restore: Callable[[Clip], None] | None = None) -> int:
        """Pick up clips that were queued or mid-pipeline when the runner last stopped;
        `restore` (the grouper's) is given each of them first, so its incident is known again.

        Raises StoreTransientError when the store stays unavailable past the submit deadline.
        """
        states = await self._store_call(
            self._store.unfinished_states,
            "read unfinished clips",
            deadline_s=self._settings.store_retry.submit_deadline_s,
        )
        for state in states:
            if state.clip_id in self._pending:
                continue
            if restore is not None:
                restore(state.to_clip())
            await self._event(
                state.clip_id, ClipEventType.CLIP_RESUMED, data={"status": state.status.value}
            )
            self._schedule(state)
        if states:
            _LOGGER.info("Resuming %s unfinished clip(s)", len(states))
        return len(states)

    async def retry_failed_uploads(self) -> int:
        """Store finished clips whose upload failed (a full disk, a share that was away).

        Runs the upload stage again for each such clip whose file still exists; a clip stored
        now has its source file removed when its camera says so. Returns the clips stored.
        One run at a time (the hourly job and the storage-is-back check may overlap).
        """
        async with self._retry_uploads_lock:
            return await self._retry_failed_uploads()

    async def _retry_failed_uploads(self) -> int:
        stored = 0
        try:
            states = await self._store_call(
                self._store.unstored_states,
                "read unstored clips",
                deadline_s=self._settings.store_retry.submit_deadline_s,
            )
        except StoreTransientError as err:
            _LOGGER.warning("Clips whose upload failed are stored later: %s", err)
            return 0
        for state in states:
            clip = state.to_clip()
            exists = await asyncio.get_running_loop().run_in_executor(None, clip.path.is_file)
            if not exists or clip.clip_id in self._pending:
                continue
            errors: list[Exception] = []
            if not await self._upload(state, clip, errors):
                if errors and isinstance(errors[-1], SourceChangedError | PermanentError):
                    continue  # this file is still being written (or unusable): not the storage
                break  # storage still failing: try again at the next run
            # The storage was away when the clip ran: its snapshot is made now.
            if state.snapshot_uri is None and await self._store_snapshot(state, clip, None):
                await self._save(state)
            if await self._after_store(state, clip):
                stored += 1
        return stored

    async def stop(self) -> None:
        """Stop the workers; clips in flight stay resumable (their state is in the store)."""
        self._stopped = True
        if self._batches is not None:
            self._batches.stop()
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._worker_clip.clear()
        self._pending.clear()
        self._running.clear()
        self._queue = asyncio.Queue()
        self._idle.set()
        self._counters_changed()

    async def wait_idle(self) -> None:
        """Wait until no clip is queued or in flight (used by tests and services)."""
        while self._pending:
            await self._idle.wait()

    # -- processing ------------------------------------------------------------------

    def _schedule(self, state: ClipState) -> None:
        if self._stopped:
            return
        self._pending[state.clip_id] = _Job(state)
        self._queue.put_nowait(state.clip_id)
        self._idle.clear()
        self._start_workers()
        self._counters_changed()

    def _start_workers(self) -> None:
        for index in range(max(1, self._settings.max_clips_in_flight)):
            task = self._workers.get(index)
            if task is None or task.done():
                self._workers[index] = self._create_task(
                    self._worker(index), f"homesec clip worker {index}"
                )

    async def _worker(self, index: int) -> None:
        """A clip worker: takes clips from the queue until it is empty.

        A worker that dies of an unexpected exception is reported and restarted after a
        backoff; its clip is queued again.
        """
        while not self._stopped:
            try:
                await self._work(index)
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if _loop_gone():
                    raise  # the event loop is being torn down under a pending worker
                failures = self._worker_failures.get(index, 0) + 1
                self._worker_failures[index] = failures
                delay = self._settings.worker_restart.delay(failures)
                self._worker_died(index, err, delay)
                await asyncio.sleep(delay)

    async def _work(self, index: int) -> None:
        while True:
            try:
                clip_id = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return  # idle: the next scheduled clip starts the worker again
            job = self._pending.get(clip_id)
            if job is None or clip_id in self._running:
                continue
            self._worker_clip[index] = clip_id
            self._running.add(clip_id)
            self._counters_changed()
            parked = await self._process(job)
            self._worker_clip.pop(index, None)
            self._running.discard(clip_id)
            self._worker_failures[index] = 0
            if parked:
                self._counters_changed()
            else:
                self._job_done(clip_id)

    def _job_done(self, clip_id: str) -> None:
        job = self._pending.pop(clip_id, None)
        if job is not None and job.members:
            self._release(job)  # a lead that ended without handing over: each goes alone
        if not self._pending:
            self._idle.set()
        self._counters_changed()

    def _requeue(self, job: _Job) -> None:
        """Take a parked clip up again."""
        if self._stopped or self._pending.get(job.state.clip_id) is not job:
            return
        self._queue.put_nowait(job.state.clip_id)
        self._start_workers()
        self._counters_changed()

    def _incident_closed(self, batch: IncidentBatch) -> None:
        """A batch closed: its earliest clip leads (analyses the batch), the others stay
        parked until it hands over; a clip alone is analysed alone."""
        jobs = [job for cid in batch.clip_ids if (job := self._pending.get(cid)) is not None]
        if not jobs:
            return
        lead, *members = sorted(jobs, key=lambda job: job.state.start_ts)
        lead.waited = True
        lead.members = tuple(member.state.clip_id for member in members)
        self._requeue(lead)

    def _release(self, lead: _Job) -> None:
        """The lead is done with its batch: its other clips continue (those without the
        incident's analysis analyse alone)."""
        members, lead.members = lead.members, ()
        for clip_id in members:
            job = self._pending.get(clip_id)
            if job is not None:
                job.waited = True
                self._requeue(job)

    def _worker_died(self, index: int, err: Exception, delay: float) -> None:
        """Report a dead worker; its clip is queued again (or, after repeated deaths, left)."""
        clip_id = self._worker_clip.pop(index, None)
        job = self._pending.get(clip_id) if clip_id is not None else None
        self.worker_restarts += 1
        what = "between clips"
        if job is not None and clip_id is not None:
            self._running.discard(clip_id)
            job.crashes += 1
            what = f"on {job.state.camera_name} clip {clip_id} (status {job.state.status.value})"
            if job.crashes < MAX_WORKER_CRASHES_PER_CLIP:
                self._queue.put_nowait(clip_id)
            else:
                _LOGGER.error(
                    "Clip %s killed its worker %s times; it stays unfinished and is resumed at "
                    "the next start",
                    clip_id,
                    job.crashes,
                )
                self._job_done(clip_id)
        message = f"clip worker {index} died {what}: {type(err).__name__}: {err}"
        self.last_worker_failure = message
        self.last_worker_failure_at = datetime.now(UTC)
        self._record_error(message)
        _LOGGER.error(
            "HomeSec %s; restart %s in %.1f s", message, self.worker_restarts, delay, exc_info=err
        )
        self._counters_changed()

    async def _process(self, job: _Job) -> bool:
        """Run the clip's stages; True when it was parked in an incident batch."""
        state = job.state
        try:
            return await self._run_stages(job)
        except asyncio.CancelledError:
            raise
        except StoreError as err:
            # Not the clip's fault: it stays unfinished in the store and is resumed.
            _LOGGER.error(
                "Clip database failed while processing %s clip %s; the clip is resumed "
                "at the next start: %s",
                state.camera_name,
                state.clip_id,
                err,
            )
            self._record_error(f"{state.camera_name}: {err}")
        except Exception as err:
            _LOGGER.exception("Unexpected error processing clip %s", state.clip_id)
            self._record_error(f"{state.camera_name}: {err}")
            state.status = ClipStatus.ERROR
            state.error = f"internal error: {err}"
            await self._save(state)
            self._tell(state, "finished")
        return False

    async def _run_stages(self, job: _Job) -> bool:
        """The clip's stages from where it stands; True when it was parked (it waits in its
        incident's batch for the group's other cameras and is taken up again later)."""
        state = job.state
        clip = state.to_clip()
        camera = self._camera_settings(clip.camera_id)

        # Stage 1: upload in parallel with the filter. An upload failure never blocks alerts.
        upload_task = (
            None if state.upload_done else asyncio.ensure_future(self._upload(state, clip))
        )
        try:
            if state.filter_result is None:
                filter_result = await self._run_filter(state, clip)
                if filter_result is None:
                    if upload_task is not None:
                        await upload_task
                    state.status = ClipStatus.ERROR
                    await self._save(state)
                    self._tell(state, "finished")
                    return False
            if upload_task is not None:
                await upload_task
        except BaseException:
            if upload_task is not None and not upload_task.done():
                upload_task.cancel()
                await asyncio.wait({upload_task})  # its writes get their grace time
            raise
        filter_result = state.filter_result
        assert filter_result is not None

        # Stage 2: the vision model, by run mode; a clip of a camera group's incident first
        # waits for the group's other cameras, and the batch is analysed once by its lead.
        if not state.vlm_done:
            skip_reason = self._vlm_skip_reason(camera, filter_result)
            if skip_reason is None and self._parks(job, clip):
                assert self._batches is not None
                self._batches.park(clip.clip_id, clip.camera_id, str(clip.metadata[EVENT_KEY]))
                return True
            await self._run_vlm(job, clip, filter_result, skip_reason)

        # Stage 3: the alert decision.
        decided = state.alert_decision is None
        if state.alert_decision is None:
            state.alert_decision = self._policy.decide(
                clip.camera_id, filter_result, state.analysis, at=clip.start_ts
            )
            await self._event(
                clip.clip_id,
                ClipEventType.ALERT_DECISION_MADE,
                data=state.alert_decision.to_dict(),
            )
        alerting = state.alert_decision.notify and not state.notified
        # A live alert of the clip's event was delivered: the clip's notification replaces it
        # (even when the clip itself does not alert, so the user learns what it was).
        event_key = clip.metadata.get(EVENT_KEY)
        live = self._live
        update_only: frozenset[str] | None = None
        if (
            live is not None
            and isinstance(event_key, str)
            and not state.notified
            and not alerting
            and live.wants_update(event_key, alerting=False)
        ):
            update_only = live.delivered(event_key)
        if update_only is not None and INCIDENT_ALERTED_WITH in state.metadata:
            update_only = None  # the incident's lead alerts for it
        if alerting and not state.alert_reported:
            # Stored before it is reported, and reported as soon as it is stored: a restart
            # never reports the alert twice.
            state.alert_reported = True
            await self._save(state, after=lambda: self._tell(state, "alert"))
        elif decided:
            await self._save(state)

        # Stage 4: notifiers in parallel, each retried on its own; after a restart only those
        # without a stored notification_sent for this clip are called.
        if alerting or update_only:
            delivered = await self._notify(state, clip, only=update_only)
            if live is not None:
                # A clip without an event is the start of one a later clip may join.
                group = event_key if isinstance(event_key, str) else clip.clip_id
                await live.clip_done(group, alerted=alerting, delivered=delivered)
        state.notified = state.alert_decision.notify
        state.status = ClipStatus.DONE
        await self._save(state, after=lambda: self._tell(state, "finished"))
        await self._after_store(state, clip)
        return False

    async def _upload(
        self, state: ClipState, clip: Clip, errors: list[Exception] | None = None
    ) -> bool:
        """Store the clip file; True once a copy of the whole, unchanging file is stored.

        The source is fingerprinted before and after the copy: a file that changed meanwhile
        (an upload still being written) is copied again on the next attempt. Each failed
        attempt's error is appended to `errors` when given.
        """

        async def put() -> tuple[str, SourceFingerprint | None]:
            before = await _fingerprint(clip.path)
            uri = await self._storage.put_clip(clip)
            after = await _fingerprint(clip.path)
            if before is not None and after != before:
                raise SourceChangedError(
                    f"clip file {clip.path.name} changed while it was stored "
                    f"({before.size} -> {after.size if after else 'gone'} bytes)"
                )
            return uri, after

        result = await self._attempts(
            "upload",
            clip,
            put,
            ClipEventType.UPLOAD_STARTED,
            ClipEventType.UPLOAD_COMPLETED,
            ClipEventType.UPLOAD_FAILED,
            success_data=lambda r: {"uri": r[0], "size": r[1].size if r[1] else None},
            errors=errors,
        )
        if result is None:
            return False
        uri, fingerprint = result
        state.clip_uri = uri
        state.upload_done = True
        state.stored_source = fingerprint
        if state.status is ClipStatus.QUEUED:
            state.status = ClipStatus.UPLOADED
        # Only the upload's own columns: the filter runs beside it on the same state, and
        # its result must be stored by its own write (the one that reports it).
        await self._commit(
            lambda: self._store.mark_uploaded(state.clip_id, uri, fingerprint),
            "record the stored clip",
        )
        return True

    async def _after_store(self, state: ClipState, clip: Clip) -> bool:
        """Once a clip is done and stored: delete its source (when the camera says so), but
        only if it is still exactly what was stored.

        A source that changed since (it grew after it looked stable: an upload that stalled)
        is kept and marked not stored, so the catch-up job stores it again, complete; it is
        deleted only once a copy of its final content is stored. False when it changed.
        """
        if not state.upload_done or not state.clip_uri:
            return True
        delete = self._camera_settings(clip.camera_id).delete_source_after_store
        stored = state.stored_source
        # Compared and deleted in one step on a worker thread (no gap between the two).
        current, deleted = await asyncio.get_running_loop().run_in_executor(
            None, _delete_if_unchanged, clip.path, stored, delete
        )
        gone = deleted or current is None
        if delete and gone and (sidecar := clip.metadata.get(SIDECAR_SNAPSHOT_KEY)):
            await self._delete_source(Path(str(sidecar)))
        if current is None or deleted:
            return True  # gone (deleted now, or already removed by the source)
        if stored is not None and current != stored:
            _LOGGER.warning(
                "Clip file %s of %s changed after it was stored (%s -> %s bytes); it is kept "
                "and stored again",
                clip.path,
                clip.camera_name,
                stored.size,
                current.size,
            )
            state.upload_done = False
            await self._event(
                clip.clip_id,
                ClipEventType.UPLOAD_FAILED,
                will_retry=True,
                error_type=SourceChangedError.__name__,
                error_message="clip file changed after it was stored; it is stored again",
                data={"stored_size": stored.size, "size": current.size},
            )
            await self._save(state)
            return False
        return True

    async def _run_filter(self, state: ClipState, clip: Clip) -> FilterResult | None:
        object_filter = self._filters(clip.camera_id)
        result = await self._attempts(
            "filter",
            clip,
            lambda: object_filter.detect(clip),
            ClipEventType.FILTER_STARTED,
            ClipEventType.FILTER_COMPLETED,
            ClipEventType.FILTER_FAILED,
            success_data=lambda r: {
                "detected_classes": list(r.detected_classes),
                "frames_sampled": r.frames_sampled,
                "model": r.model,
            },
        )
        if result is None:
            state.error = "object filter failed"
            return None
        state.filter_result = result
        state.status = ClipStatus.FILTERED
        await self._store_snapshot(state, clip, result)
        # Reported as soon as it is stored (also when stopping): never lost, never twice.
        await self._save(state, after=lambda: self._tell(state, "objects_detected"))
        return result

    async def _store_snapshot(
        self, state: ClipState, clip: Clip, result: FilterResult | None
    ) -> bool:
        """Keep the best frame (or a keyframe) as the clip's snapshot; best effort. True when
        one was stored."""
        try:
            jpeg = (result.best_frame_jpeg if result else None) or await self._snapshot(clip)
            if jpeg is None:
                return False
            uri = await self._storage.put_snapshot(clip, jpeg)
        except (PipelineError, OSError) as err:
            _LOGGER.warning("No snapshot for clip %s: %s", clip.clip_id, err)
            return False
        state.snapshot_uri = uri
        path = self._storage.local_path(uri)
        state.snapshot_path = str(path) if path else None
        return True

    def _vlm_skip_reason(
        self, camera: CameraPipelineSettings, filter_result: FilterResult
    ) -> str | None:
        """Why the vision model does not run for a clip (None: it runs)."""
        if self._vlm is None:
            return "vlm_not_configured"
        if camera.vlm_run_mode is VLMRunMode.NEVER:
            return "run_mode_never"
        if camera.vlm_run_mode is VLMRunMode.TRIGGER_ONLY and not filter_result.has_trigger(
            camera.alert.trigger_classes
        ):
            return "no_trigger_class"
        return None

    def _parks(self, job: _Job, clip: Clip) -> bool:
        """Whether the clip waits in its incident's batch before its analysis."""
        return (
            self._batches is not None
            and self._vlm is not None
            and self._vlm.supports_incidents
            and not job.waited
            and isinstance(clip.metadata.get(EVENT_KEY), str)
            and INCIDENT_CAMERA_IDS in clip.metadata
            and self._batches.waits(clip.camera_id)
        )

    def _incident_members(self, job: _Job) -> list[ClipState]:
        """The lead's parked batch members still to be analysed."""
        found: list[ClipState] = []
        for clip_id in job.members:
            member = self._pending.get(clip_id)
            if member is not None and not member.state.vlm_done and member.state.filter_result:
                found.append(member.state)
        return found

    async def _run_vlm(
        self,
        job: _Job,
        clip: Clip,
        filter_result: FilterResult,
        skip_reason: str | None,
    ) -> None:
        state = job.state
        members = self._incident_members(job) if skip_reason is None else []
        if skip_reason is not None or self._vlm is None:
            state.analysis_skipped_reason = skip_reason
            await self._event(clip.clip_id, ClipEventType.VLM_SKIPPED, data={"reason": skip_reason})
        else:
            vlm = self._vlm
            analyze: Callable[[], Awaitable[AnalysisResult]]
            extra: dict[str, Any] = {}
            if members:
                items = sorted(
                    [
                        IncidentClip(clip, filter_result),
                        *(
                            IncidentClip(m.to_clip(), m.filter_result)
                            for m in members
                            if m.filter_result
                        ),
                    ],
                    key=lambda item: item.clip.start_ts,
                )
                extra["incident_clips"] = [item.clip.clip_id for item in items]
                analyze = functools.partial(vlm.analyze_incident, items)
            else:
                analyze = functools.partial(vlm.analyze, clip, filter_result)
            try:
                analysis = await self._attempts(
                    "vlm",
                    clip,
                    analyze,
                    ClipEventType.VLM_STARTED,
                    ClipEventType.VLM_COMPLETED,
                    ClipEventType.VLM_FAILED,
                    success_data=lambda a: {**_analysis_data(a), **extra},
                )
            except StageSkipped as skipped:
                analysis = None
                state.analysis_skipped_reason = skipped.reason
                await self._event(
                    clip.clip_id,
                    ClipEventType.VLM_SKIPPED,
                    data={"reason": skipped.reason, "detail": str(skipped)},
                )
            else:
                if analysis is None:
                    state.analysis_skipped_reason = "vlm_failed"
            state.analysis = analysis
            if analysis is not None:
                state.status = ClipStatus.ANALYZED
            elif members and state.analysis_skipped_reason == "vlm_failed":
                # The incident's request failed: each clip of the batch is analysed alone.
                self._release(job)
                state.analysis_skipped_reason = None
                await self._run_vlm(job, clip, filter_result, None)
                return
        state.vlm_done = True
        if members and state.analysis is not None:
            await self._share_incident(job, clip, filter_result, state.analysis, members)
            return
        analyzed = state.analysis is not None
        await self._save(state, after=(lambda: self._tell(state, "analyzed")) if analyzed else None)
        if job.members:
            self._release(job)  # no incident analysis: each clip of the batch goes alone

    async def _share_incident(
        self,
        job: _Job,
        clip: Clip,
        filter_result: FilterResult,
        analysis: AnalysisResult,
        members: Sequence[ClipState],
    ) -> None:
        """The incident was analysed: decide its alert once (the lead's policy), give the
        batch's other clips the analysis (its tokens stay the lead's) and, when the lead
        alerts, a decision not to alert again; every clip of the batch is stored in one
        transaction, so a restart finds all of them decided or none. Then they continue."""
        lead = job.state
        _join_cameras(lead, members)
        decision = self._policy.decide(clip.camera_id, filter_result, analysis, at=clip.start_ts)
        lead.alert_decision = decision
        await self._event(lead.clip_id, ClipEventType.ALERT_DECISION_MADE, data=decision.to_dict())
        shared = dataclasses.replace(analysis, prompt_tokens=0, completion_tokens=0)
        for member in members:
            member.analysis = shared
            member.analysis_skipped_reason = None
            member.vlm_done = True
            member.status = ClipStatus.ANALYZED
            member.metadata[INCIDENT_LEAD] = lead.clip_id
            await self._event(
                member.clip_id,
                ClipEventType.VLM_COMPLETED,
                data={**_analysis_data(shared), "incident_lead": lead.clip_id},
            )
            if decision.notify:
                member.alert_decision = AlertDecision(
                    False, f"alerted once for the incident, with the clip of {lead.camera_name}"
                )
                member.metadata[INCIDENT_ALERTED_WITH] = lead.clip_id
                await self._event(
                    member.clip_id,
                    ClipEventType.ALERT_DECISION_MADE,
                    data=member.alert_decision.to_dict(),
                )
        batch = [lead, *members]

        def analysed() -> None:
            for state in batch:
                self._tell(state, "analyzed")

        await self._commit(
            lambda: self._store.upsert_states(batch), "save the incident's clips", after=analysed
        )
        self._release(job)

    async def _notify(
        self, state: ClipState, clip: Clip, only: frozenset[str] | None = None
    ) -> frozenset[str]:
        """Send the clip's alert to every notifier (or to `only`: a quiet update of a live
        alert); a notifier that delivered a live alert of the event gets it as a follow-up.
        Returns the notifiers that delivered it in this call."""
        assert state.alert_decision is not None
        live_sent = (
            self._live.delivered(clip.metadata.get(EVENT_KEY)) if self._live else frozenset()
        )
        alert = build_alert(state, self._storage, follow_up=bool(live_sent))
        delivered_by: set[str] = set()

        async def send(notifier: Notifier) -> None:
            async def deliver() -> bool:
                await notifier.send(alert)
                return True

            errors: list[Exception] = []
            delivered = await self._attempts(
                "notify",
                clip,
                deliver,
                None,
                ClipEventType.NOTIFICATION_SENT,
                ClipEventType.NOTIFICATION_FAILED,
                event_data={"notifier": notifier.name},
                errors=errors,
            )
            self._notifier_outcome(notifier.name, None if delivered else errors)
            if delivered:
                delivered_by.add(notifier.name)

        sent = await self._store_call(
            lambda: self._store.notifications_sent(clip.clip_id), "read sent notifications"
        )
        if sent:
            _LOGGER.debug("Clip %s: already notified through %s", clip.clip_id, sorted(sent))
        sends = [
            asyncio.ensure_future(send(n))
            for n in self._notifiers
            if n.name not in sent and (only is None or n.name in only)
        ]
        if not sends:
            return frozenset()
        gathered = asyncio.gather(*sends, return_exceptions=True)
        try:
            results = await asyncio.shield(gathered)
        except asyncio.CancelledError:
            # Stopping: notifications on their way get the grace time to finish and be
            # recorded, so the next start does not send them again.
            await asyncio.wait(sends, timeout=self._settings.store_retry.stop_grace_s)
            for task in sends:
                task.cancel()
            await asyncio.wait(sends)
            for task in sends:
                if not task.cancelled() and task.exception() is not None:
                    _LOGGER.debug("Notification while stopping failed: %s", task.exception())
            raise
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return frozenset(delivered_by)

    async def _attempts(
        self,
        stage: str,
        clip: Clip,
        func: Callable[[], Awaitable[_T]],
        started: ClipEventType | None,
        completed: ClipEventType,
        failed: ClipEventType,
        *,
        success_data: Callable[[_T], dict[str, Any]] | None = None,
        event_data: Mapping[str, Any] | None = None,
        errors: list[Exception] | None = None,
    ) -> _T | None:
        """Run one stage with retries; an event per attempt. None when every attempt failed.

        Each attempt's error is appended to `errors` when given.
        """
        retry = self._settings.retry
        extra = dict(event_data or {})
        for attempt in range(1, retry.max_attempts + 1):
            if started is not None:
                await self._event(clip.clip_id, started, attempt=attempt, data=extra)
            begin = time.monotonic()
            try:
                async with self._stage_limits[stage]:
                    result = await func()
            except (asyncio.CancelledError, StageSkipped):
                raise
            except Exception as err:
                if errors is not None:
                    errors.append(err)
                duration_ms = int((time.monotonic() - begin) * 1000)
                expected = isinstance(err, PipelineError | OSError | TimeoutError)
                retryable = not isinstance(err, PipelineError) or err.retryable
                will_retry = retryable and attempt < retry.max_attempts
                await self._event(
                    clip.clip_id,
                    failed,
                    attempt=attempt,
                    will_retry=will_retry,
                    error_type=type(err).__name__,
                    error_message=str(err) or type(err).__name__,
                    duration_ms=duration_ms,
                    data=extra,
                )
                if will_retry:
                    _LOGGER.debug(
                        "%s of clip %s failed (attempt %s): %s", stage, clip.clip_id, attempt, err
                    )
                    await asyncio.sleep(_retry_delay(retry, attempt, err))
                    continue
                message = f"{stage} failed for {clip.camera_name} clip {clip.clip_id}: {err}"
                self._record_error(message)
                if expected:
                    _LOGGER.warning("%s", message)
                else:
                    _LOGGER.error("%s", message, exc_info=err)
                return None
            duration_ms = int((time.monotonic() - begin) * 1000)
            data = dict(extra)
            if success_data is not None:
                data.update(success_data(result))
            await self._event(
                clip.clip_id, completed, attempt=attempt, duration_ms=duration_ms, data=data
            )
            return result
        return None  # pragma: no cover - the loop always returns

    # -- helpers ---------------------------------------------------------------------

    def _notifier_outcome(self, name: str, errors: list[Exception] | None) -> None:
        """Track notifiers whose last alert could not be delivered (the glue raises a repair
        issue until one is delivered again)."""
        if errors is None:
            changed = self.notifier_failures.pop(name, None) is not None
        else:
            error = errors[-1] if errors else None
            self.notifier_failures[name] = str(error) if error else "failed"
            changed = True
        if changed:
            self._counters_changed()

    def _record_error(self, message: str) -> None:
        self.last_error = message
        self.last_error_at = datetime.now(UTC)

    async def _event(
        self,
        clip_id: str,
        event_type: ClipEventType,
        *,
        attempt: int | None = None,
        will_retry: bool | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
        duration_ms: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        event = ClipEvent(
            clip_id=clip_id,
            event_type=event_type,
            timestamp=datetime.now(UTC),
            attempt=attempt,
            will_retry=will_retry,
            error_type=error_type,
            error_message=error_message,
            duration_ms=duration_ms,
            data=dict(data or {}),
        )
        await self._commit(lambda: self._store.add_event(event), f"record {event_type.value}")

    async def _save(self, state: ClipState, after: Callable[[], None] | None = None) -> None:
        await self._commit(
            lambda: self._store.upsert_state(state), "save the clip state", after=after
        )

    async def _store_call(
        self,
        call: Callable[[], Awaitable[_T]],
        what: str,
        *,
        deadline_s: float | None = None,
    ) -> _T:
        """One store call; a transient fault is retried with backoff.

        Without a deadline it is retried until it succeeds (or the task is cancelled), so a
        locked or full database only delays a clip. With one, the last fault is raised once
        the next wait would pass it.
        """
        backoff = self._settings.store_retry
        loop = asyncio.get_running_loop()
        give_up_at = None if deadline_s is None else loop.time() + deadline_s
        attempt = 0
        while True:
            try:
                result = await call()
            except StoreTransientError as err:
                attempt += 1
                self.store_faults += 1
                self.store_last_error = str(err)
                if self.store_unavailable_since is None:
                    self.store_unavailable_since = datetime.now(UTC)
                    _LOGGER.warning(
                        "Clip database unavailable (%s); retrying until it is back: %s", what, err
                    )
                    self._counters_changed()
                delay = backoff.delay(attempt)
                if give_up_at is not None and loop.time() + delay > give_up_at:
                    raise
                await asyncio.sleep(delay)
                continue
            if self.store_unavailable_since is not None:
                _LOGGER.info("Clip database is available again (%s)", what)
                self.store_unavailable_since = None
                self._counters_changed()
            return result

    async def _commit(
        self,
        call: Callable[[], Awaitable[None]],
        what: str,
        *,
        after: Callable[[], None] | None = None,
    ) -> None:
        """A store write that stopping does not cut short; `after()` runs once it landed.

        When the task is cancelled (Home Assistant stops) while the write is on its way, the
        write still gets up to `stop_grace_s` to land, so a restart does not redo what the
        write records (a sent notification, a finished clip); `after` runs then too.
        """
        inner = asyncio.ensure_future(self._store_call(call, what))
        try:
            await asyncio.shield(inner)
        except asyncio.CancelledError:
            if not inner.done():
                await asyncio.wait({inner}, timeout=self._settings.store_retry.stop_grace_s)
            if not inner.done():
                inner.cancel()
                await asyncio.wait({inner})
            elif not inner.cancelled():
                if inner.exception() is not None:
                    _LOGGER.debug("Write while stopping failed (%s): %s", what, inner.exception())
                elif after is not None:
                    after()
            raise
        if after is not None:
            after()

    def _counters_changed(self) -> None:
        try:
            self._listener.counters_changed()
        except Exception:
            _LOGGER.exception("Pipeline listener failed on counters_changed")

    def _tell(self, state: ClipState, stage: str) -> None:
        """Report a stage to the listener; a failing listener never stops the clip."""
        try:
            self._listener.clip_updated(state, stage)
        except Exception:
            _LOGGER.exception("Pipeline listener failed on %s of clip %s", stage, state.clip_id)

    async def _delete_source(self, path: Path) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, path.unlink)
        except FileNotFoundError:
            pass
        except OSError as err:
            _LOGGER.warning("Could not delete source file %s: %s", path, err)


MAX_RETRY_AFTER_S = 120.0
# Clip metadata key of a snapshot file a source saved next to the clip.
SIDECAR_SNAPSHOT_KEY = "snapshot_path"


async def _fingerprint(path: Path) -> SourceFingerprint | None:
    """Size, modification time and a hash of the ends of a file (None when it is missing)."""
    return await asyncio.get_running_loop().run_in_executor(None, fingerprint_file, path)


def fingerprint_file(path: Path) -> SourceFingerprint | None:
    """Blocking: the fingerprint of a file, or None when it cannot be read."""
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            digest = hashlib.blake2b(digest_size=16)
            digest.update(handle.read(FINGERPRINT_EDGE_BYTES))
            if info.st_size > 2 * FINGERPRINT_EDGE_BYTES:
                handle.seek(-FINGERPRINT_EDGE_BYTES, os.SEEK_END)
            digest.update(handle.read())
    except OSError:
        return None
    return SourceFingerprint(info.st_size, info.st_mtime_ns, digest.hexdigest())


def _delete_if_unchanged(
    path: Path, stored: SourceFingerprint | None, delete: bool
) -> tuple[SourceFingerprint | None, bool]:
    """Blocking: the file's fingerprint, and whether it was deleted (only when asked and it
    is what was stored, or nothing was recorded for it)."""
    current = fingerprint_file(path)
    if current is None or not delete or (stored is not None and current != stored):
        return current, False
    try:
        path.unlink()
    except FileNotFoundError:
        return None, False
    except OSError as err:
        _LOGGER.warning("Could not delete source file %s: %s", path, err)
        return current, False
    return current, True


def _loop_gone() -> bool:
    try:
        return asyncio.get_running_loop().is_closed()
    except RuntimeError:
        return True


def _retry_delay(retry: RetrySettings, attempt: int, err: Exception) -> float:
    """Backoff, or longer when the failure asked for it (capped)."""
    delay = retry.delay(attempt)
    asked = getattr(err, "retry_after_s", None)
    if isinstance(asked, int | float) and asked > delay:
        delay = min(float(asked), MAX_RETRY_AFTER_S)
    return delay


def _analysis_data(analysis: AnalysisResult) -> dict[str, Any]:
    """What a vlm_completed event records of an analysis."""
    return {
        "risk_level": analysis.risk_level.value,
        "activity_type": analysis.activity_type.value,
        "prompt_tokens": analysis.prompt_tokens,
        "completion_tokens": analysis.completion_tokens,
    }


def _join_cameras(lead: ClipState, members: Sequence[ClipState]) -> None:
    """Every clip of an analysed batch names all the incident's cameras (in time order)."""
    states = sorted([lead, *members], key=lambda state: state.start_ts)
    cameras: dict[str, str] = {}
    for state in states:
        ids = state.metadata.get(INCIDENT_CAMERA_IDS)
        names = state.metadata.get(INCIDENT_CAMERAS)
        if isinstance(ids, list) and isinstance(names, list) and len(ids) == len(names):
            for camera_id, name in zip(ids, names, strict=True):
                cameras.setdefault(str(camera_id), str(name))
        cameras.setdefault(state.camera_id, state.camera_name)
    for state in states:
        state.metadata[INCIDENT_CAMERAS] = list(cameras.values())
        state.metadata[INCIDENT_CAMERA_IDS] = list(cameras)


def build_alert(state: ClipState, storage: StorageBackend, *, follow_up: bool = False) -> Alert:
    """The notifier-facing view of a processed clip."""
    assert state.alert_decision is not None
    event_key = state.metadata.get(EVENT_KEY)
    return Alert(
        clip_id=state.clip_id,
        camera_id=state.camera_id,
        camera_name=state.camera_name,
        start_ts=state.start_ts,
        reason=state.alert_decision.reason,
        detected_classes=state.filter_result.detected_classes if state.filter_result else (),
        analysis=state.analysis,
        clip_path=storage.local_path(state.clip_uri) if state.clip_uri else None,
        snapshot_path=Path(state.snapshot_path) if state.snapshot_path else None,
        clip_uri=state.clip_uri,
        snapshot_uri=state.snapshot_uri,
        event_key=event_key if isinstance(event_key, str) else None,
        follow_up=follow_up,
        cameras=_incident_camera_names(state),
    )


def _incident_camera_names(state: ClipState) -> tuple[str, ...]:
    """The cameras of the clip's incident, when it has more than the clip's own."""
    names = state.metadata.get(INCIDENT_CAMERAS)
    if isinstance(names, list) and len(names) > 1 and all(isinstance(n, str) for n in names):
        return tuple(names)
    return ()
