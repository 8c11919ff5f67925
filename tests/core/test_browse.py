"""The media browser's tree (core/browse.py) and the store's browse queries, without HA."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from custom_components.homesec_nvr.core.browse import (
    BrowseLabels,
    NodeKind,
    clip_identifier,
    clip_title,
    day_children,
    day_title,
    incident_identifier,
    parse_identifier,
)
from custom_components.homesec_nvr.core.models import (
    EVENT_KEY,
    ActivityType,
    AnalysisResult,
    ClipState,
    ClipStatus,
    FilterResult,
    RiskLevel,
)
from custom_components.homesec_nvr.core.payload import MediaLinks
from custom_components.homesec_nvr.core.store import ClipStore

PARIS = ZoneInfo("Europe/Paris")
LABELS = BrowseLabels()


def _state(
    clip_id: str,
    start: datetime,
    *,
    camera_id: str = "cam",
    status: ClipStatus = ClipStatus.DONE,
    analysis: AnalysisResult | None = None,
    detected: tuple[str, ...] = (),
    event_key: str | None = None,
    snapshot: bool = True,
) -> ClipState:
    return ClipState(
        clip_id=clip_id,
        camera_id=camera_id,
        camera_name="Front door",
        source_type="local_folder",
        source_path=f"/in/{clip_id}.mp4",
        status=status,
        start_ts=start,
        end_ts=start + timedelta(seconds=10),
        created_at=start,
        updated_at=start,
        metadata={EVENT_KEY: event_key} if event_key else {},
        clip_uri=f"local:///media/{clip_id}.mp4",
        snapshot_path=f"/media/{clip_id}.jpg" if snapshot else None,
        filter_result=FilterResult(
            detected_classes=detected,
            best_confidence=dict.fromkeys(detected, 0.9),
            detections=(),
            frames_sampled=3,
            model="test",
            duration_ms=1,
        ),
        analysis=analysis,
    )


def _analysis(activity: ActivityType, risk: RiskLevel) -> AnalysisResult:
    return AnalysisResult(risk_level=risk, activity_type=activity, summary="s")


def _links(state: ClipState) -> MediaLinks:
    return MediaLinks(
        media_url=f"/clip/{state.clip_id}",
        snapshot_url=f"/snap/{state.clip_id}" if state.snapshot_path else None,
    )


def _paris(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


DAY = date(2026, 12, 1)


def test_a_clip_is_titled_by_its_analysis_its_objects_or_that_nothing_was_seen() -> None:
    # Given clips with an analysis, with objects but no analysis, with neither, and in flight
    start = _paris(DAY, 14, 3)
    analysed = _state("a", start, analysis=_analysis(ActivityType.PERSON_AT_DOOR, RiskLevel.LOW))
    objects = _state("b", start, detected=("person", "car"))
    empty = _state("c", start)
    running = _state("d", start, status=ClipStatus.QUEUED)

    # When they are titled in the local time zone (the clips are stored in UTC)
    titles = [clip_title(s, PARIS, LABELS) for s in (analysed, objects, empty, running)]

    # Then each says the local time and what happened
    assert titles == [
        "14:03 · Person at door · low",
        "14:03 · person, car",
        "14:03 · no objects",
        "14:03 · processing",
    ]


def test_translated_labels_replace_the_words() -> None:
    # Given labels in another language
    labels = BrowseLabels(
        weekdays=("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        months=tuple(f"mois{i}" for i in range(1, 13)),
        day_title="{weekday} {day} {month}",
        activities={"delivery": "Livraison"},
        risks={"high": "élevé"},
    )
    state = _state(
        "a", _paris(DAY, 9, 5), analysis=_analysis(ActivityType.DELIVERY, RiskLevel.HIGH)
    )

    # When a day and a clip are titled
    # Then the translated words are used
    assert day_title(DAY, labels, today=date(2026, 12, 5)) == "mardi 1 mois12"
    assert clip_title(state, PARIS, labels) == "09:05 · Livraison · élevé"


def test_a_day_title_has_the_year_only_when_it_is_not_this_year() -> None:
    # Given a Tuesday
    # When it is titled this year and the next year
    # Then the year appears only for the other year
    assert day_title(DAY, LABELS, today=date(2026, 12, 5)) == "Tuesday 1 December"
    assert day_title(DAY, LABELS, today=date(2027, 1, 2)) == "Tuesday 1 December 2026"


def test_a_day_groups_an_incidents_clips_and_lists_everything_newest_first() -> None:
    # Given a day's clips, newest first as the store returns them: an incident of three
    # clips (14:03, 14:05, 14:20), a single-clip event, and clips without an event
    states = [
        _state("late", _paris(DAY, 18, 0)),
        _state("i3", _paris(DAY, 14, 20), event_key="ev1", snapshot=False),
        _state("solo", _paris(DAY, 14, 10), event_key="ev2"),
        _state(
            "i2",
            _paris(DAY, 14, 5),
            event_key="ev1",
            analysis=_analysis(ActivityType.LOITERING, RiskLevel.HIGH),
        ),
        _state(
            "i1",
            _paris(DAY, 14, 3),
            event_key="ev1",
            analysis=_analysis(ActivityType.PASSERBY, RiskLevel.LOW),
        ),
        _state("early", _paris(DAY, 7, 30), snapshot=False),
    ]

    # When the day's entries are built
    nodes = day_children(states, DAY, PARIS, LABELS, _links)

    # Then the incident is one node at its first clip's time, holding its clips newest
    # first, shown by its riskiest clip's snapshot; the single-clip event is just the clip
    assert [n.title for n in nodes] == [
        "18:00 · no objects",
        "14:10 · no objects",
        "14:03 · Incident · 3 clips · high",
        "07:30 · no objects",
    ]
    incident = nodes[2]
    assert incident.kind is NodeKind.INCIDENT
    assert incident.identifier == "cam/2026-12-01/incident/ev1"
    assert incident.thumbnail == "/snap/i2"
    assert [c.identifier.rsplit("/", 1)[1] for c in incident.children] == ["i3", "i2", "i1"]
    assert nodes[1].kind is NodeKind.CLIP and nodes[1].playable
    assert nodes[0].thumbnail == "/snap/late"
    assert nodes[3].thumbnail is None


def test_identifiers_round_trip_even_with_slashes_in_them() -> None:
    # Given a camera id and an event key with characters a path cannot hold
    clip = clip_identifier("frigate/front door", DAY, "c-1")
    incident = incident_identifier("frigate/front door", DAY, "rtsp/ev 1")

    # When they are parsed back
    parsed_clip, parsed_incident = parse_identifier(clip), parse_identifier(incident)

    # Then every part comes back as it was
    assert (parsed_clip.kind, parsed_clip.camera_id, parsed_clip.day, parsed_clip.clip_id) == (
        NodeKind.CLIP,
        "frigate/front door",
        DAY,
        "c-1",
    )
    assert parsed_incident.kind is NodeKind.INCIDENT
    assert parsed_incident.event_key == "rtsp/ev 1"
    assert parse_identifier("cam").kind is NodeKind.CAMERA
    assert parse_identifier("cam/2026-12-01").kind is NodeKind.DAY


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("cam/yesterday", "not a date"),
        ("cam/2026-12-01/incident", "event key"),
        ("cam/2026-12-01/other/x", "expected 'incident'"),
        ("cam//c1", "expected <camera>"),
        ("cam/2026-12-01/incident/a/b", "expected <camera>"),
        ("cam/9999-12-31", "not a day HomeSec can have clips of"),
        ("cam/0001-01-01/incident/ev", "not a day HomeSec can have clips of"),
    ],
)
def test_a_malformed_identifier_says_what_is_wrong(identifier: str, message: str) -> None:
    # Given a malformed identifier
    # When it is parsed
    # Then ValueError says what is wrong
    with pytest.raises(ValueError, match=message):
        parse_identifier(identifier)


async def test_the_store_counts_local_days_and_lists_a_day_between_utc_bounds(
    tmp_path: Path,
) -> None:
    # Given clips around local midnight in Kathmandu (UTC+5:45) on two cameras
    tz = ZoneInfo("Asia/Kathmandu")
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    day = date(2026, 12, 1)
    midnight = datetime(2026, 12, 2, tzinfo=tz)
    times = {
        "before": midnight - timedelta(minutes=1),  # 23:59 on the 1st (18:14 UTC)
        "at": midnight,  # 00:00 on the 2nd
        "after": midnight + timedelta(minutes=20),
        "morning": datetime(2026, 12, 1, 8, 0, tzinfo=tz),
    }
    for clip_id, start in times.items():
        await store.upsert_state(_state(clip_id, start.astimezone(UTC)))
    await store.upsert_state(_state("other", midnight.astimezone(UTC), camera_id="cam2"))

    # When the days of the camera and the clips of the 1st are asked
    days = await store.camera_days("cam", tz)
    counts = await store.camera_clip_counts()
    start = datetime(2026, 12, 1, tzinfo=tz)
    listed = await store.clips_between("cam", start, midnight, 10)
    limited = await store.clips_between("cam", start, midnight + timedelta(days=1), 2)
    total = await store.count_between("cam", start, midnight + timedelta(days=1))
    await store.close()

    # Then days are local dates newest first, and a day holds exactly its own clips
    assert days == [(date(2026, 12, 2), 2), (day, 2)]
    assert counts == {"cam": 4, "cam2": 1}
    assert [s.clip_id for s in listed] == ["before", "morning"]
    assert [s.clip_id for s in limited] == ["after", "at"]
    assert total == 4
