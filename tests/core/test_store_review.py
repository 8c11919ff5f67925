"""Reviewing clips in the store: the schema 5 migration, set_review, and its faults."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core import store as store_module
from custom_components.homesec_nvr.core.models import (
    AlertDecision,
    ClipState,
    ClipStatus,
    ReviewState,
)
from custom_components.homesec_nvr.core.store import (
    ClipStore,
    StorePermanentError,
    StoreTransientError,
)

from .faults import exclusive_lock

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _state(clip_id: str, status: ClipStatus = ClipStatus.DONE) -> ClipState:
    return ClipState(
        clip_id=clip_id,
        camera_id="cam",
        camera_name="Front door",
        source_type="local_folder",
        source_path=f"/in/{clip_id}.mp4",
        status=status,
        start_ts=NOW,
        end_ts=NOW + timedelta(seconds=10),
        created_at=NOW,
        updated_at=NOW,
    )


def _write_version_4_database(path: Path) -> None:
    """A database as HomeSec with schema version 4 left it, holding one finished clip."""
    conn = sqlite3.connect(path)
    for migration in store_module._MIGRATIONS[:4]:
        for statement in migration:
            conn.execute(statement)
    conn.execute(
        "INSERT INTO clip_states (clip_id, camera_id, camera_name, source_type, source_path, "
        "status, start_ts, end_ts, created_at, updated_at, clip_uri, alert_decision, notified, "
        "upload_done, alert_reported, stored_source) VALUES ('old', 'cam', 'Front door', "
        "'local_folder', '/in/old.mp4', 'done', ?, ?, ?, ?, 'file:/media/old.mp4', "
        """'{"notify":true,"reason":"person"}', 1, 1, 1, NULL)""",
        (NOW.isoformat(),) * 4,
    )
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()


def _columns(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {str(row[1]) for row in conn.execute("PRAGMA table_info(clip_states)")}
    finally:
        conn.close()


async def test_a_version_4_database_gains_review_columns_keeping_its_clips(
    tmp_path: Path,
) -> None:
    # Given a real schema version 4 database file with one alerted clip
    path = tmp_path / "homesec.db"
    _write_version_4_database(path)
    assert "review" not in _columns(path)

    # When the store opens it
    store = ClipStore(path)
    await store.open()

    # Then it is at the current version with the review columns (added by version 5), and
    # the clip reads as not reviewed
    assert store_module.SCHEMA_VERSION >= 5
    assert await store.schema_version() == store_module.SCHEMA_VERSION
    assert {"review", "reviewed_at"} <= _columns(path)
    old = await store.get_state("old")
    assert old is not None
    assert (old.review, old.reviewed_at) == (None, None)
    assert old.alert_decision == AlertDecision(True, "person")
    assert (old.notified, old.upload_done, old.alert_reported) == (True, True, True)
    assert old.clip_uri == "file:/media/old.mp4"

    # When the migrated clip is marked reviewed and the file is opened again
    await store.set_review(["old"], ReviewState.REVIEWED)
    await store.close()
    again = ClipStore(path)
    await again.open()

    # Then the review was kept in the file
    reopened = await again.get_state("old")
    assert reopened is not None
    assert reopened.review is ReviewState.REVIEWED
    await again.close()


async def test_set_review_marks_and_clears_known_clips_and_leaves_out_unknown_ones(
    tmp_path: Path,
) -> None:
    # Given two stored clips
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    await store.upsert_state(_state("a"))
    await store.upsert_state(_state("b"))
    before = datetime.now(UTC)

    # When one of them (asked twice) and an unknown id are marked a false alarm
    updated = await store.set_review(["a", "ghost", "a"], ReviewState.FALSE_ALARM)

    # Then only the known clip is returned, once, as stored now; the other clip is untouched
    assert [s.clip_id for s in updated] == ["a"]
    assert updated[0].review is ReviewState.FALSE_ALARM
    assert updated[0].reviewed_at is not None and updated[0].reviewed_at >= before
    stored_b = await store.get_state("b")
    assert stored_b is not None and stored_b.review is None
    assert not await store.has_clip("ghost")

    # When the review of both is cleared
    cleared = await store.set_review(["b", "a"], None)

    # Then both are returned in the order asked, not reviewed, without a time
    assert [(s.clip_id, s.review, s.reviewed_at) for s in cleared] == [
        ("b", None, None),
        ("a", None, None),
    ]
    assert await store.set_review(["ghost"], ReviewState.REVIEWED) == []
    await store.close()


async def test_saving_a_clips_state_keeps_the_review_a_person_made(tmp_path: Path) -> None:
    # Given a clip still in the pipeline, which a person marks reviewed meanwhile
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    in_flight = _state("live", ClipStatus.FILTERED)
    await store.upsert_state(in_flight)
    await store.set_review(["live"], ReviewState.REVIEWED)

    # When the pipeline saves its own (unreviewed) copy of the state as done
    in_flight.status = ClipStatus.DONE
    in_flight.alert_decision = AlertDecision(True, "person")
    await store.upsert_state(in_flight)

    # Then the pipeline's columns are saved, the review stays, and the pipeline's copy has it
    assert in_flight.review is ReviewState.REVIEWED
    assert in_flight.reviewed_at is not None
    stored = await store.get_state("live")
    assert stored is not None
    assert stored.status is ClipStatus.DONE
    assert stored.alert_decision == AlertDecision(True, "person")
    assert stored.review is ReviewState.REVIEWED
    assert stored.reviewed_at is not None
    await store.close()


async def test_a_locked_database_is_a_typed_transient_error_and_writes_no_review(
    tmp_path: Path,
) -> None:
    # Given a stored clip, and another connection holding the database exclusively
    path = tmp_path / "homesec.db"
    store = ClipStore(path, busy_timeout_s=0.05)
    await store.open()
    await store.upsert_state(_state("a"))

    # When the clip is marked reviewed meanwhile
    # Then a typed transient error says the database is busy
    with exclusive_lock(path), pytest.raises(StoreTransientError) as err:
        await store.set_review(["a"], ReviewState.REVIEWED)
    assert err.value.code_name in {"SQLITE_BUSY", "SQLITE_LOCKED", None}

    # Then nothing was written, and once the lock is gone it works
    stored = await store.get_state("a")
    assert stored is not None and stored.review is None
    assert [s.review for s in await store.set_review(["a"], ReviewState.REVIEWED)] == [
        ReviewState.REVIEWED
    ]
    await store.close()

    # When a closed store is asked
    # Then it is a typed permanent error
    with pytest.raises(StorePermanentError):
        await store.set_review(["a"], ReviewState.REVIEWED)
