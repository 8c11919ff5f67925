"""Retention: delete stored clips by age and by total size, oldest finished clips first."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .interfaces import StorageBackend, StorageUnavailableError
from .models import ClipEvent, ClipEventType, ClipState, ClipStatus
from .store import ClipStore


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """0 disables a limit."""

    max_age_days: float = 30.0
    max_total_gb: float = 10.0
    # With an off-site copy: clips started within this many days (0: all of them) are never
    # deleted locally before their copy exists. None: no copy is required.
    offsite_copy_days: float | None = None
    # The cameras whose clips are copied (None: every camera).
    offsite_cameras: frozenset[str] | None = None


@dataclass(slots=True)
class RetentionReport:
    """What a retention pass deleted (or would delete, in a dry run)."""

    dry_run: bool
    clips: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    bytes_kept: int = 0
    # Set when the pass stopped because the storage was unavailable (an unmounted share):
    # nothing was marked deleted that still exists there.
    storage_unavailable: str | None = None


def _size(storage: StorageBackend, uri: str | None) -> int:
    if uri is None:
        return 0
    path = storage.local_path(uri)
    try:
        return path.stat().st_size if path else 0
    except OSError:
        return 0


async def apply_retention(
    store: ClipStore,
    storage: StorageBackend,
    settings: RetentionSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """Delete what is past the limits. Only finished clips (done or error) are touched."""
    now = now or datetime.now(UTC)
    report = RetentionReport(dry_run=dry_run)
    keep_since = None
    if settings.offsite_copy_days is not None:
        days = settings.offsite_copy_days
        keep_since = now - timedelta(days=days) if days > 0 else datetime(1970, 1, 1, tzinfo=UTC)
    candidates = await store.retention_candidates(keep_since, settings.offsite_cameras)
    loop = asyncio.get_running_loop()

    def sizes() -> list[int]:
        return [_size(storage, s.clip_uri) + _size(storage, s.snapshot_uri) for s in candidates]

    clip_sizes = await loop.run_in_executor(None, sizes)
    total = sum(clip_sizes)
    cutoff = now - timedelta(days=settings.max_age_days) if settings.max_age_days > 0 else None
    max_bytes = int(settings.max_total_gb * 1024**3) if settings.max_total_gb > 0 else None
    for state, size in zip(candidates, clip_sizes, strict=True):
        too_old = cutoff is not None and state.start_ts < cutoff
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big):
            continue
        if not dry_run:
            try:
                await _delete(store, storage, state, "max_age" if too_old else "max_total_size")
            except StorageUnavailableError as err:
                report.storage_unavailable = str(err)
                break
        report.clips.append(state.clip_id)
        report.bytes_freed += size
        total -= size
    report.bytes_kept = total
    return report


async def _delete(store: ClipStore, storage: StorageBackend, state: ClipState, reason: str) -> None:
    freed = 0
    for uri in (state.clip_uri, state.snapshot_uri):
        if uri:
            freed += await storage.delete(uri)
    state.status = ClipStatus.DELETED
    state.clip_uri = None
    state.snapshot_uri = None
    state.snapshot_path = None
    await store.upsert_state(state)
    await store.add_event(
        ClipEvent(
            clip_id=state.clip_id,
            event_type=ClipEventType.CLIP_DELETED,
            timestamp=datetime.now(UTC),
            data={"reason": reason, "bytes_freed": freed},
        )
    )
