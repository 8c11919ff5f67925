"""The live alerts' memory in the clip store: the schema 9 table, its round trip and pruning."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core import store as store_module
from custom_components.homesec_nvr.core.models import ClipStatus
from custom_components.homesec_nvr.core.store import ClipStore, LiveEventRecord

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=30)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncGenerator[ClipStore]:
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    yield store
    await store.close()


def _rows(path: Path) -> list[tuple[str, str, str, int]]:
    conn = sqlite3.connect(path)
    try:
        return [
            (str(r[0]), str(r[1]), str(r[2]), int(r[3]))
            for r in conn.execute(
                "SELECT event_key, seen_at, delivered, clip_alerted FROM live_events "
                "ORDER BY event_key"
            )
        ]
    finally:
        conn.close()


async def test_remembered_events_read_back_oldest_first_after_a_reopen(
    tmp_path: Path, store: ClipStore
) -> None:
    # Given two events remembered, the first one updated later (a clip alerted through mail)
    first = LiveEventRecord("evt-A", NOW, frozenset({"phone"}))
    second = LiveEventRecord("evt-B", NOW + timedelta(minutes=1))
    await store.save_live_event(first, keep=10, since=LONG_AGO)
    await store.save_live_event(second, keep=10, since=LONG_AGO)
    await store.save_live_event(
        LiveEventRecord(
            "evt-A", NOW + timedelta(hours=1), frozenset({"phone", "email"}), clip_alerted=True
        ),
        keep=10,
        since=LONG_AGO,
    )

    # When the store is closed and the file opened again
    await store.close()
    again = ClipStore(tmp_path / "homesec.db")
    await again.open()
    loaded = await again.load_live_events(keep=10, since=LONG_AGO)
    await again.close()

    # Then both read back, oldest first; the update kept the first sighting's time
    assert loaded == [
        LiveEventRecord("evt-A", NOW, frozenset({"phone", "email"}), clip_alerted=True),
        second,
    ]
    # ... and the names are stored as a sorted JSON list
    assert _rows(tmp_path / "homesec.db")[0][2] == '["email","phone"]'


async def test_saving_forgets_events_past_the_count_and_the_age(
    tmp_path: Path, store: ClipStore
) -> None:
    # Given an event from two days ago and three recent ones
    old = LiveEventRecord("evt-old", NOW - timedelta(days=2), frozenset({"phone"}))
    await store.save_live_event(old, keep=10, since=LONG_AGO)
    for minute in range(3):
        await store.save_live_event(
            LiveEventRecord(f"evt-{minute}", NOW + timedelta(minutes=minute)),
            keep=10,
            since=LONG_AGO,
        )
    assert len(_rows(tmp_path / "homesec.db")) == 4

    # When one more is saved keeping the 3 newest of the last day
    await store.save_live_event(
        LiveEventRecord("evt-3", NOW + timedelta(minutes=3)), keep=3, since=NOW - timedelta(days=1)
    )

    # Then the old one and the oldest recent one are gone from the file
    assert [r[0] for r in _rows(tmp_path / "homesec.db")] == ["evt-1", "evt-2", "evt-3"]


async def test_loading_at_start_forgets_what_has_aged_meanwhile(
    tmp_path: Path, store: ClipStore
) -> None:
    # Given three events remembered an hour apart
    for hour in range(3):
        await store.save_live_event(
            LiveEventRecord(f"evt-{hour}", NOW + timedelta(hours=hour)), keep=10, since=LONG_AGO
        )

    # When they are loaded keeping those seen from 1 h on, at most 1
    loaded = await store.load_live_events(keep=1, since=NOW + timedelta(hours=1))

    # Then only the newest is returned, and the others are deleted
    assert [r.event_key for r in loaded] == ["evt-2"]
    assert [r[0] for r in _rows(tmp_path / "homesec.db")] == ["evt-2"]


def _write_version_8_database(path: Path) -> None:
    """A database as HomeSec with schema version 8 left it, holding one finished clip."""
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in store_module._MIGRATIONS[:8]:
        for step in migration:
            if isinstance(step, str):
                conn.execute(step)
            else:
                step(conn)
    conn.execute(
        "INSERT INTO clip_states (clip_id, camera_id, camera_name, source_type, source_path, "
        "status, start_ts, end_ts, created_at, updated_at, metadata) VALUES ('old', 'cam', "
        "'Front door', 'frigate', '/in/old.mp4', 'done', ?, ?, ?, ?, "
        """'{"event_key":"evt-old"}')""",
        (NOW.isoformat(),) * 4,
    )
    conn.execute("PRAGMA user_version = 8")
    conn.close()


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()


async def test_a_version_8_database_gains_the_live_events_table_keeping_its_clips(
    tmp_path: Path,
) -> None:
    # Given a real schema version 8 database file with one clip
    path = tmp_path / "homesec.db"
    _write_version_8_database(path)
    assert "live_events" not in _tables(path)

    # When the store opens it
    store = ClipStore(path)
    await store.open()

    # Then it is at version 9 with the table (empty) and its index, and the clip is kept
    assert store_module.SCHEMA_VERSION == 9
    assert await store.schema_version() == 9
    assert {"live_events", "idx_live_events_seen"} <= _tables(path)
    assert await store.load_live_events(keep=10, since=LONG_AGO) == []
    old = await store.get_state("old")
    assert old is not None
    assert old.status is ClipStatus.DONE
    assert old.metadata == {"event_key": "evt-old"}

    # And events are remembered in it from then on
    record = LiveEventRecord("evt-new", NOW, frozenset({"phone"}))
    await store.save_live_event(record, keep=10, since=LONG_AGO)
    assert await store.load_live_events(keep=10, since=LONG_AGO) == [record]
    await store.close()
