"""The off-site copy stage: copies stored clips (and their snapshots) to an OffsiteTarget.

It runs beside the clip pipeline, never in it: a clip counts as stored once local storage
has it, its alert never waits for the copy. The copier takes finished clips whose
`offsite_done` is 0 from the store, oldest first, so whatever an outage left behind is
caught up on its own (at start, when a clip finishes, and every `catch_up_interval_s`).

Failures: a retryable one (429 with its Retry-After, 5xx, network) waits with exponential
backoff and tries again; an auth failure (revoked grant) or a full account stops copying
and is reported (`blocked`) until `resume()` (new credentials) or, for a full account, the
next catch-up. The off-site retention runs once a day, before that day's first copies (so a
full account gets space back): it deletes day folders older than `retention_days`, then,
with `max_total_gb`, the oldest day folders (never today's) until the copy fits the limit
(between two runs the copy can grow past it by up to a day of clips).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from ..interfaces import StorageBackend
from ..models import ClipState
from ..runner import Backoff
from ..store import ClipStore, StoreError
from . import (
    OffsiteAuthError,
    OffsiteError,
    OffsiteSpaceError,
    OffsiteTarget,
    normalize_root,
    parse_day,
    remote_path,
)
from .size_retention import over_the_limit

_LOGGER = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BLOCKED_AUTH = "auth"
BLOCKED_SPACE = "space"


@dataclass(frozen=True, slots=True)
class OffsiteSettings:
    """Where copies go and how long they are kept there (0 days: forever; 0 GB: any size)."""

    root: str = "HomeSec"
    retention_days: int = 30
    max_total_gb: float = 0.0
    batch_size: int = 20
    backoff: Backoff = field(default_factory=lambda: Backoff(base_delay_s=30.0, max_delay_s=3600.0))
    catch_up_interval_s: float = 3600.0
    # Retry-After above this is capped (a misbehaving server must not stall copies for days).
    max_retry_after_s: float = 3600.0
    # The cameras whose clips are copied (None: every camera).
    cameras: frozenset[str] | None = None

    def window_start(self, now: datetime) -> datetime:
        """Clips from then on need a copy (older ones would be deleted there at once)."""
        return now - timedelta(days=self.retention_days) if self.retention_days > 0 else EPOCH


@dataclass(slots=True)
class OffsiteStatus:
    """What diagnostics and the backlog sensor show."""

    backlog: int = 0
    copied: int = 0
    bytes_copied: int = 0
    failures: int = 0
    last_copy_at: datetime | None = None
    last_error: str | None = None
    failing_since: datetime | None = None
    retry_at: datetime | None = None
    blocked: str | None = None  # BLOCKED_AUTH or BLOCKED_SPACE
    remote_deleted: int = 0
    last_retention_at: datetime | None = None


class OffsiteCopier:
    """Copies the store's backlog to the target, one clip at a time."""

    def __init__(
        self,
        store: ClipStore,
        storage: StorageBackend,
        target: OffsiteTarget,
        settings: OffsiteSettings,
        *,
        tz: tzinfo = UTC,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._storage = storage
        self._target = target
        self._settings = settings
        self._tz = tz
        self._on_change = on_change
        self.status = OffsiteStatus()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempt = 0
        self._retention_day: date | None = None

    @property
    def target(self) -> OffsiteTarget:
        return self._target

    def start(self) -> None:
        """Start the background loop (it catches up at once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="homesec offsite copy")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def notify(self) -> None:
        """A clip was stored (or it is time to catch up): look at the backlog."""
        self._wake.set()

    def resume(self, target: OffsiteTarget | None = None) -> None:
        """After a new sign-in (or space was freed): copy again, with the new target."""
        if target is not None:
            self._target = target
        self.status.blocked = None
        self._attempt = 0
        self._wake.set()
        self._changed()

    async def run_once(self) -> int:
        """One pass over the backlog (raises the target's errors); the clips copied."""
        now = datetime.now(UTC)
        since = self._settings.window_start(now)
        await self._refresh_backlog(since)
        if self._retention_day != now.astimezone(self._tz).date():
            await self.apply_remote_retention(now)
        copied = 0
        while True:
            batch = await self._store.offsite_backlog(
                since, self._settings.batch_size, self._settings.cameras
            )
            if not batch:
                break
            for state in batch:
                await self._copy(state)
                copied += 1
            await self._refresh_backlog(since)
        await self._refresh_backlog(since)
        return copied

    async def apply_remote_retention(self, now: datetime | None = None) -> int:
        """Delete remote day folders past `retention_days`, then the oldest ones past
        `max_total_gb`; the folders deleted."""
        now = now or datetime.now(UTC)
        today = now.astimezone(self._tz).date()
        root = normalize_root(self._settings.root)
        deleted = 0
        if self._settings.retention_days > 0:
            oldest_kept = today - timedelta(days=self._settings.retention_days)
            for camera in await self._target.list_folder(root):
                for name in await self._target.list_folder(f"{root}/{camera}"):
                    day = parse_day(name)
                    doomed = day is not None and day < oldest_kept
                    if doomed and await self._target.delete(f"{root}/{camera}/{name}"):
                        deleted += 1
        if self._settings.max_total_gb > 0:
            files = await self._target.list_files(root)
            for folder in over_the_limit(root, files, self._settings.max_total_gb, today):
                if await self._target.delete(folder.path):
                    deleted += 1
        self._retention_day = today
        self.status.remote_deleted += deleted
        self.status.last_retention_at = now
        if deleted:
            _LOGGER.info("Off-site retention deleted %s day folder(s) in Dropbox", deleted)
        return deleted

    async def _copy(self, state: ClipState) -> None:
        sent = 0
        for uri in (state.clip_uri, state.snapshot_uri):
            local = self._storage.local_path(uri) if uri else None
            if local is None:
                continue
            exists = await asyncio.get_running_loop().run_in_executor(None, local.is_file)
            if not exists:
                _LOGGER.warning(
                    "Off-site copy: %s of clip %s is gone locally; nothing to copy",
                    local.name,
                    state.clip_id,
                )
                continue
            sent += await self._target.upload(local, self._remote(state, local))
        await self._store.mark_offsite_done(state.clip_id)
        self.status.copied += 1
        self.status.bytes_copied += sent
        self.status.last_copy_at = datetime.now(UTC)

    def _remote(self, state: ClipState, local: Path) -> str:
        return remote_path(
            self._settings.root, state.camera_name, state.start_ts, local.name, self._tz
        )

    async def _refresh_backlog(self, since: datetime) -> None:
        count = await self._store.offsite_backlog_count(since, self._settings.cameras)
        if count != self.status.backlog:
            self.status.backlog = count
            self._changed()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            wait_s = self._settings.catch_up_interval_s
            if self.status.blocked != BLOCKED_AUTH:
                wait_s = await self._pass()
            else:  # no calls until a new sign-in; the backlog still shows what waits
                with contextlib.suppress(StoreError):
                    await self._refresh_backlog(self._settings.window_start(datetime.now(UTC)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait_s)

    async def _pass(self) -> float:
        """Run one pass; the seconds to wait before the next one (unless woken)."""
        started = time.monotonic()
        try:
            await self.run_once()
        except OffsiteAuthError as err:
            self._failed(err, BLOCKED_AUTH)
            _LOGGER.warning("Off-site copy stopped: %s; sign in to Dropbox again", err)
            return self._settings.catch_up_interval_s
        except OffsiteSpaceError as err:
            self._failed(err, BLOCKED_SPACE)
            _LOGGER.warning("Off-site copy stopped: %s", err)
            return self._settings.catch_up_interval_s
        except Exception as err:  # a bug must not end the copying for good
            if not isinstance(err, (OffsiteError, StoreError)):
                _LOGGER.exception("Off-site copy failed unexpectedly")
            self._attempt += 1
            delay = self._settings.backoff.delay(self._attempt)
            retry_after = getattr(err, "retry_after_s", None)
            if retry_after:
                delay = max(delay, min(float(retry_after), self._settings.max_retry_after_s))
            self._failed(err, None)
            self.status.retry_at = datetime.now(UTC) + timedelta(seconds=delay)
            _LOGGER.warning("Off-site copy failed (%s); trying again in %.0f s", err, delay)
            return delay
        if self._attempt or self.status.last_error or self.status.blocked:
            _LOGGER.info("Off-site copy works again (%.1f s)", time.monotonic() - started)
        self._attempt = 0
        self.status.last_error = None
        self.status.failing_since = None
        self.status.retry_at = None
        self.status.blocked = None
        self._changed()
        return self._settings.catch_up_interval_s

    def _failed(self, err: Exception, blocked: str | None) -> None:
        self.status.failures += 1
        self.status.last_error = str(err)
        self.status.failing_since = self.status.failing_since or datetime.now(UTC)
        self.status.blocked = blocked
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
