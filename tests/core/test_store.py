"""The SQLite store: schema migrations, round trips, counting, resume queries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core import store as store_module
from custom_components.homesec_nvr.core.models import (
    ActivityType,
    AlertDecision,
    AnalysisResult,
    ClipEvent,
    ClipEventType,
    ClipState,
    ClipStatus,
    Detection,
    EntityType,
    FilterResult,
    RiskLevel,
    SourceFingerprint,
    TimelineEntity,
)
from custom_components.homesec_nvr.core.store import SCHEMA_VERSION, ClipStore, StoreError

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _state(clip_id: str, status: ClipStatus = ClipStatus.QUEUED, **kw: object) -> ClipState:
    return ClipState(
        clip_id=clip_id,
        camera_id=str(kw.pop("camera_id", "cam")),
        camera_name="Front door",
        source_type="local_folder",
        source_path=f"/in/{clip_id}.mp4",
        status=status,
        start_ts=(start := kw.pop("start_ts", NOW)),  # type: ignore[arg-type]
        end_ts=NOW + timedelta(seconds=10),
        created_at=start,  # type: ignore[arg-type]
        updated_at=NOW,
        **kw,  # type: ignore[arg-type]
    )


async def test_migrates_a_version_1_database_keeping_its_rows(tmp_path: Path) -> None:
    # Given a database at schema version 1 holding one clip
    path = tmp_path / "homesec.db"
    conn = sqlite3.connect(path)
    for statement in store_module._MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO clip_states (clip_id, camera_id, camera_name, source_type, source_path, "
        "status, start_ts, end_ts, created_at, updated_at) VALUES "
        "('old', 'cam', 'Front door', 'local_folder', '/in/old.mp4', 'done', ?, ?, ?, ?)",
        (NOW.isoformat(),) * 4,
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    # When the store opens it
    store = ClipStore(path)
    await store.open()

    # Then it is at the current version and the old row reads with defaults for new columns
    assert await store.schema_version() == SCHEMA_VERSION
    state = await store.get_state("old")
    assert state is not None
    assert state.status is ClipStatus.DONE
    assert state.snapshot_path is None
    assert state.upload_done is False
    await store.close()


async def test_refuses_a_database_from_a_newer_homesec(tmp_path: Path) -> None:
    # Given a database written by a future schema version
    path = tmp_path / "homesec.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = ClipStore(path)

    # When it is opened, Then a clear error says what to do
    with pytest.raises(StoreError, match="newer than this HomeSec"):
        await store.open()
    await store.close()


async def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    # Given a database path whose parent is a regular file
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = ClipStore(blocker / "homesec.db")

    # When it is opened, Then a StoreError names the path
    with pytest.raises(StoreError, match="cannot open clip database"):
        await store.open()
    await store.close()


async def test_state_round_trip_with_every_field(tmp_path: Path) -> None:
    # Given a fully processed clip
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    analysis = AnalysisResult(
        risk_level=RiskLevel.HIGH,
        activity_type=ActivityType.SUSPICIOUS_BEHAVIOR,
        summary="Someone tries the car doors.",
        observations=("hood up",),
        entities=(
            TimelineEntity(EntityType.PERSON, 1.0, 7.5, "adult", "walks", "driveway", "car"),
        ),
        requires_review=True,
        model="gpt",
        prompt_tokens=900,
        completion_tokens=120,
    )
    filtered = FilterResult(
        detected_classes=("person",),
        best_confidence={"person": 0.91},
        detections=(Detection("person", 0.91, (1.0, 2.0, 30.0, 60.0), 2.0),),
        frames_sampled=10,
        model="yolo11n",
        duration_ms=420,
    )
    state = _state(
        "full",
        ClipStatus.DONE,
        metadata={"file_name": "full.mp4"},
        clip_uri="file:/media/full.mp4",
        filter_result=filtered,
        analysis=analysis,
        alert_decision=AlertDecision(True, "risk high"),
        notified=True,
        upload_done=True,
        vlm_done=True,
        alert_reported=True,
        stored_source=SourceFingerprint(size=1234, mtime_ns=10**18, digest="ab" * 16),
    )

    # When it is saved and read back
    await store.upsert_state(state)
    loaded = await store.get_state("full")

    # Then every field survives
    assert loaded is not None
    assert loaded.analysis == analysis
    assert loaded.filter_result == filtered
    assert loaded.alert_decision == AlertDecision(True, "risk high")
    assert loaded.metadata == {"file_name": "full.mp4"}
    assert (loaded.notified, loaded.upload_done, loaded.vlm_done) == (True, True, True)
    assert loaded.alert_reported is True
    assert loaded.stored_source == SourceFingerprint(1234, 10**18, "ab" * 16)
    await store.close()


async def test_unfinished_counts_and_dedupe(tmp_path: Path) -> None:
    # Given clips in every status, two of them today with one alert
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    for index, status in enumerate(ClipStatus):
        await store.upsert_state(_state(f"c{index}", status, start_ts=NOW - timedelta(days=index)))
    await store.upsert_state(
        _state("alerted", ClipStatus.DONE, alert_decision=AlertDecision(True, "x"))
    )

    # When the store is queried
    unfinished = await store.unfinished_states()
    clips, alerts = await store.count_since("cam", NOW - timedelta(hours=1))
    inserted = await store.insert_state_if_new(_state("c0"))

    # Then only queued/mid-pipeline clips resume, counts cover the window, and dedupe holds
    assert {s.status for s in unfinished} == {
        ClipStatus.QUEUED,
        ClipStatus.UPLOADED,
        ClipStatus.FILTERED,
        ClipStatus.ANALYZED,
    }
    assert (clips, alerts) == (2, 1)
    assert inserted is False
    assert await store.has_clip("c0")
    assert not await store.has_clip("nope")
    recent = [s.clip_id for s in await store.recent_states("cam", 3)]
    assert set(recent) == {"c0", "alerted", "c1"}
    await store.close()


async def test_events_are_append_only_and_ordered(tmp_path: Path) -> None:
    # Given a clip with three events
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    for attempt, kind in enumerate(
        (ClipEventType.FILTER_STARTED, ClipEventType.FILTER_FAILED, ClipEventType.FILTER_STARTED),
        start=1,
    ):
        await store.add_event(
            ClipEvent(
                clip_id="c",
                event_type=kind,
                timestamp=NOW,
                attempt=attempt,
                will_retry=kind is ClipEventType.FILTER_FAILED or None,
                error_type="PipelineError" if kind is ClipEventType.FILTER_FAILED else None,
                data={"n": attempt},
            )
        )

    # When the history is read
    events = await store.events("c")

    # Then the events come back in insertion order with their fields
    assert [(e.event_type, e.attempt) for e in events] == [
        (ClipEventType.FILTER_STARTED, 1),
        (ClipEventType.FILTER_FAILED, 2),
        (ClipEventType.FILTER_STARTED, 3),
    ]
    assert events[1].will_retry is True
    assert events[1].error_type == "PipelineError"
    assert events[2].data == {"n": 3}
    await store.close()


async def test_notifications_sent_names_each_notifier_with_a_stored_sent_event(
    tmp_path: Path,
) -> None:
    # Given a clip whose phone notification was sent twice, mqtt failed, and another clip's
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    for clip_id, kind, notifier in (
        ("c", ClipEventType.NOTIFICATION_SENT, "phone"),
        ("c", ClipEventType.NOTIFICATION_SENT, "phone"),
        ("c", ClipEventType.NOTIFICATION_FAILED, "mqtt"),
        ("other", ClipEventType.NOTIFICATION_SENT, "mqtt"),
    ):
        await store.add_event(
            ClipEvent(clip_id=clip_id, event_type=kind, timestamp=NOW, data={"notifier": notifier})
        )

    # When the sent notifiers of the clip are read
    sent = await store.notifications_sent("c")

    # Then only the notifier with a stored notification_sent for this clip is named, once
    assert sent == {"phone"}
    assert await store.notifications_sent("none") == set()
    await store.close()
