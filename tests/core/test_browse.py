"""The media browser's tree (core/browse.py) and the store's browse queries, without HA."""

from __future__ import annotations

import sqlite3
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
    grouped_event_keys,
    incident_identifier,
    incident_members,
    incident_title,
    parse_identifier,
)
from custom_components.homesec_nvr.core.grouping import INCIDENT_CAMERA_IDS, INCIDENT_CAMERAS
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


def _grouped(
    clip_id: str,
    start: datetime,
    camera_id: str,
    camera_name: str,
    key: str,
    analysis: AnalysisResult | None = None,
) -> ClipState:
    """A clip of a camera group's incident `key`, as grouping labels it."""
    state = _state(clip_id, start, camera_id=camera_id, event_key=key, analysis=analysis)
    state.camera_name = camera_name
    state.metadata[INCIDENT_CAMERAS] = [camera_name]
    state.metadata[INCIDENT_CAMERA_IDS] = [camera_id]
    return state


def test_an_incident_with_clips_of_other_cameras_holds_every_cameras_clips() -> None:
    # Given the driveway's day: a clip of the group incident "inc" (14:04, low), another
    # clip and a single-camera incident of two clips; and the incident's other clips: the
    # front door's at 14:03 (high) and 14:06, its day listing holding neither
    drive = [
        _state("later", _paris(DAY, 15, 0)),
        _grouped(
            "d1",
            _paris(DAY, 14, 4),
            "drive",
            "Driveway",
            "inc",
            _analysis(ActivityType.PASSERBY, RiskLevel.LOW),
        ),
        _grouped("s2", _paris(DAY, 9, 5), "drive", "Driveway", "solo"),
        _grouped("s1", _paris(DAY, 9, 0), "drive", "Driveway", "solo"),
    ]
    related = [
        _grouped("f2", _paris(DAY, 14, 6), "door", "Front door", "inc"),
        _grouped(
            "f1",
            _paris(DAY, 14, 3),
            "door",
            "Front door",
            "inc",
            _analysis(ActivityType.LOITERING, RiskLevel.HIGH),
        ),
    ]

    # When the driveway's day is listed with them, without them, and as the media source
    # lists it (the incidents without their clips)
    nodes = day_children(drive, DAY, PARIS, LABELS, _links, related)
    alone = day_children(drive, DAY, PARIS, LABELS, _links)
    flat = day_children(drive, DAY, PARIS, LABELS, _links, related, nested=False)

    # Then the incident is one folder on the driveway's day at its first clip's time, titled
    # with its cameras in the order they joined, shown by its riskiest clip's snapshot
    assert [n.title for n in nodes] == [
        "15:00 · no objects",
        "14:03 · Incident · Front door, Driveway · 3 clips · high",
        "09:00 · Incident · 2 clips",
    ]
    incident = nodes[1]
    assert incident.kind is NodeKind.INCIDENT
    assert incident.identifier == "drive/2026-12-01/incident/inc"
    assert incident.thumbnail == "/snap/f1"
    # And it holds every camera's clips, newest first, each named by its camera and
    # identified under its own camera (so it resolves and plays there)
    assert [c.title for c in incident.children] == [
        "14:06 · Front door · no objects",
        "14:04 · Driveway · Passerby · low",
        "14:03 · Front door · Loitering · high",
    ]
    assert [c.identifier for c in incident.children] == [
        "door/2026-12-01/f2",
        "drive/2026-12-01/d1",
        "door/2026-12-01/f1",
    ]
    assert all(c.playable for c in incident.children)
    # And the single-camera incident is as before: only the day's clips of its camera
    assert [c.identifier for c in nodes[2].children] == [
        "drive/2026-12-01/s2",
        "drive/2026-12-01/s1",
    ]
    # And without the other cameras' clips the grouped clip is just a clip
    assert [n.title for n in alone][1] == "14:04 · Passerby · low"
    # And the flat listing has the same entries, its incidents without their clips
    assert [(n.identifier, n.title, n.thumbnail) for n in flat] == [
        (n.identifier, n.title, n.thumbnail) for n in nodes
    ]
    assert [len(n.children) for n in flat] == [0, 0, 0]


def test_an_incident_across_midnight_lists_the_other_days_clips_under_their_own_day() -> None:
    # Given the driveway's clip of incident "inc" at 23:59, and the front door's at 00:01
    # the next day (outside the driveway's day); and a clip of the driveway's own incident
    # whose other clip is its own, the next day
    before = _grouped("d1", _paris(DAY, 23, 59), "drive", "Driveway", "inc")
    after = _grouped("f1", _paris(DAY + timedelta(days=1), 0, 1), "door", "Front door", "inc")
    own = _grouped("o1", _paris(DAY, 23, 50), "drive", "Driveway", "own")
    own_next = _grouped("o2", _paris(DAY + timedelta(days=1), 0, 5), "drive", "Driveway", "own")

    # When the driveway's day is listed with the incidents' other clips
    nodes = day_children([before, own], DAY, PARIS, LABELS, _links, [after, own_next])

    # Then the incident holds both clips, the front door's under its own day; the incident
    # of the driveway alone stays the day's clip (a camera's incident keeps to its day)
    assert [n.title for n in nodes] == [
        "23:59 · Incident · Driveway, Front door · 2 clips",
        "23:50 · no objects",
    ]
    assert [c.identifier for c in nodes[0].children] == [
        "door/2026-12-02/f1",
        "drive/2026-12-01/d1",
    ]
    assert nodes[1].identifier == "drive/2026-12-01/o1"


def test_clips_of_other_cameras_join_only_a_camera_groups_incident() -> None:
    # Given a Frigate-style event key on the driveway (not grouped) and a grouped clip of
    # another camera that happens to carry the same key, and an ungrouped clip of another
    # camera with the key of the driveway's grouped incident (and a clip of an incident the
    # day has no clip of)
    drive = [
        _state("e1", _paris(DAY, 10, 0), camera_id="drive", event_key="ev"),
        _grouped("g1", _paris(DAY, 11, 0), "drive", "Driveway", "inc"),
    ]
    related = [
        _grouped("x1", _paris(DAY, 10, 1), "door", "Front door", "ev"),
        _state("x2", _paris(DAY, 11, 1), camera_id="door", event_key="inc"),
        _grouped("x3", _paris(DAY, 11, 2), "door", "Front door", "elsewhere"),
    ]

    # When the day is listed, and the incidents' members are asked
    nodes = day_children(drive, DAY, PARIS, LABELS, _links, related)

    # Then neither joins: both driveway clips stay single clips (and the other incident's
    # clip is not listed)
    assert [n.kind for n in nodes] == [NodeKind.CLIP, NodeKind.CLIP]
    assert incident_members(drive, related, "ev") == drive[:1]
    assert incident_members(drive, related, "inc") == drive[1:]
    assert grouped_event_keys(drive + related) == ["inc", "ev", "elsewhere"]


def test_the_camera_list_follows_the_translation() -> None:
    # Given labels whose camera list reads another way, and three cameras
    labels = BrowseLabels(camera_list="{cameras} / {camera}", incident="Vorfall")
    states = [
        _grouped("a", _paris(DAY, 8, 0), "c1", "Einfahrt", "inc"),
        _grouped("b", _paris(DAY, 8, 1), "c2", "Haustür", "inc"),
        _grouped("c", _paris(DAY, 8, 2), "c3", "Garten", "inc"),
        _grouped("d", _paris(DAY, 8, 3), "c1", "Einfahrt", "inc"),
    ]

    # When the incident is titled
    # Then each camera is named once, in the order they joined, in the translation's list
    assert incident_title(states, PARIS, labels) == (
        "08:00 · Vorfall · Einfahrt / Haustür / Garten · 4 clips"
    )
    assert LABELS.cameras([]) == ""
    assert LABELS.cameras(["Driveway"]) == "Driveway"


async def test_the_store_finds_an_incidents_clips_by_key_on_its_index(tmp_path: Path) -> None:
    # Given a store with a two-camera incident over midnight, another incident, and clips
    # of no event
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    clips = [
        _grouped("d1", _paris(DAY, 23, 59), "drive", "Driveway", "inc"),
        _grouped("f1", _paris(DAY + timedelta(days=1), 0, 1), "door", "Front door", "inc"),
        _grouped("f2", _paris(DAY + timedelta(days=1), 0, 3), "door", "Front door", "inc"),
        _grouped("o1", _paris(DAY, 12, 0), "door", "Front door", "other"),
        _state("n1", _paris(DAY, 23, 58), camera_id="drive"),
    ]
    for state in clips:
        await store.upsert_state(state)
    day_start, day_end = _paris(DAY, 0, 0), _paris(DAY + timedelta(days=1), 0, 0)
    traced: list[str] = []
    await store._run(lambda: store._db().set_trace_callback(traced.append))

    # When the clips of the keys are asked: all, besides the driveway's day, at most one,
    # and of no key
    every = await store.event_clips(["inc", "other", "none"], 10)
    besides = await store.event_clips(["inc"], 10, besides=("drive", day_start, day_end))
    newest = await store.event_clips(["inc"], 1)
    nothing = await store.event_clips([], 10)
    await store._run(lambda: store._db().set_trace_callback(None))
    await store.close()

    # Then each holds the incident's clips of every camera and day, newest first
    assert [s.clip_id for s in every] == ["f2", "f1", "d1", "o1"]
    assert [s.clip_id for s in besides] == ["f2", "f1"]
    assert [s.clip_id for s in newest] == ["f2"]
    assert nothing == []
    # And SQLite looks the keys up on the event key's index (no scan of the clips), once
    # for any number of keys
    queries = [sql for sql in traced if "FROM clip_states" in sql]
    assert len(queries) == 3, traced
    conn = sqlite3.connect(tmp_path / "homesec.db")
    steps = [str(row[3]) for sql in queries for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    conn.close()
    searched = [step for step in steps if "clip_states" in step]
    assert searched, steps
    assert all("USING INDEX idx_clip_states_event_key" in step for step in searched), steps


async def test_the_store_names_each_incidents_cameras_in_the_order_they_joined(
    tmp_path: Path,
) -> None:
    # Given a store with an incident the front door joined after the driveway (and the
    # driveway again later), another incident, and a clip of no event
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    clips = [
        _grouped("f2", _paris(DAY, 8, 3), "door", "Front door", "inc"),
        _grouped("d1", _paris(DAY, 8, 0), "drive", "Driveway", "inc"),
        _grouped("d2", _paris(DAY, 8, 5), "drive", "Driveway", "inc"),
        _grouped("f1", _paris(DAY, 8, 1), "door", "Front door", "inc"),
        _grouped("o1", _paris(DAY, 12, 0), "door", "Front door", "other"),
        _state("n1", _paris(DAY, 23, 58), camera_id="drive"),
    ]
    for state in clips:
        await store.upsert_state(state)
    traced: list[str] = []
    await store._run(lambda: store._db().set_trace_callback(traced.append))

    # When the cameras of the keys are asked for, and of no key
    found = await store.incident_cameras(["inc", "other", "none"])
    nothing = await store.incident_cameras([])
    await store._run(lambda: store._db().set_trace_callback(None))
    await store.close()

    # Then each incident names its cameras once, in the order of their first clip
    assert found == {
        "inc": [("drive", "Driveway"), ("door", "Front door")],
        "other": [("door", "Front door")],
    }
    assert nothing == {}
    # And SQLite looks the keys up on the event key's index, in one statement
    queries = [sql for sql in traced if "FROM clip_states" in sql]
    assert len(queries) == 1, traced
    conn = sqlite3.connect(tmp_path / "homesec.db")
    steps = [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {queries[0]}")]
    conn.close()
    searched = [step for step in steps if "clip_states" in step]
    assert searched, steps
    assert all("USING INDEX idx_clip_states_event_key" in step for step in searched), steps
