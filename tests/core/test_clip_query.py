"""The history search (ClipStore.query over core/clip_query.py) on real SQLite files.

Hypothesis generates clips and filters, free text and incidents included: no query ever
raises, and every result page equals a brute-force Python filter over the same clips. The schema
6 migration fills the full-text index from a real schema 5 file; without FTS5 text search falls
back to LIKE.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_components.homesec_nvr.core import clip_query
from custom_components.homesec_nvr.core import store as store_module
from custom_components.homesec_nvr.core.clip_query import ClipQuery, query_words
from custom_components.homesec_nvr.core.models import (
    EVENT_KEY,
    ActivityType,
    AlertDecision,
    AnalysisResult,
    ClipState,
    ClipStatus,
    FilterResult,
    ReviewState,
    RiskLevel,
)
from custom_components.homesec_nvr.core.store import ClipStore

BASE = datetime(2026, 11, 1, tzinfo=UTC)
WORDS = ["delivery", "courier", "package", "person", "dog", "car", "van", "door", "gate", "red"]
CAMERAS = {"front": "Front door", "garage": "Garage", "yard": "Back yard"}
OBJECTS = ["person", "car", "dog", "package"]
# Event keys of generated clips (an incident's first clip keeps its own id as its key).
INCIDENTS = ["inc-a", "inc-b", "front-5"]
# ASCII text with FTS5's syntax characters and operators (tokenized alike by FTS5 and Python).
QUERY_TEXT = st.lists(
    st.sampled_from([*WORDS, "deliv", "co", "d", "AND", "OR", "NOT", "NEAR", "front", "yard"])
    | st.text(alphabet="abcdefgr0123 \"*:()-^+.,'{}", max_size=8),
    max_size=4,
).map(" ".join)


@dataclass(frozen=True)
class Row:
    """One generated clip."""

    minute: int
    camera_id: str
    analysis: AnalysisResult | None
    objects: tuple[str, ...]
    alerted: bool | None
    review: ReviewState | None
    incident: str | None = None  # the event key (None: the clip is its own incident)


sentences = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
analyses = st.none() | st.builds(
    AnalysisResult,
    risk_level=st.sampled_from(RiskLevel),
    activity_type=st.sampled_from(ActivityType),
    summary=sentences,
    observations=st.lists(sentences, max_size=3).map(tuple),
)
rows = st.lists(
    st.builds(
        Row,
        minute=st.integers(0, 60 * 24 * 3),
        camera_id=st.sampled_from(sorted(CAMERAS)),
        analysis=analyses,
        objects=st.lists(st.sampled_from(OBJECTS), unique=True, max_size=2).map(tuple),
        alerted=st.none() | st.booleans(),
        review=st.none() | st.sampled_from(ReviewState),
        incident=st.none() | st.sampled_from(INCIDENTS),
    ),
    max_size=25,
    unique_by=lambda row: row.minute,  # distinct start times: one order for both sides
)
times = st.none() | st.integers(0, 60 * 24 * 3).map(lambda m: BASE + timedelta(minutes=m))
queries = st.builds(
    ClipQuery,
    camera_ids=st.lists(st.sampled_from([*CAMERAS, "gone"]), unique=True, max_size=2).map(tuple),
    start=times,
    end=times,
    min_risk=st.none() | st.sampled_from(RiskLevel),
    activity_types=st.lists(st.sampled_from(ActivityType), unique=True, max_size=3).map(tuple),
    alerted=st.none() | st.booleans(),
    reviewed=st.none() | st.booleans(),
    objects=st.lists(st.sampled_from([*OBJECTS, "cat"]), unique=True, max_size=2).map(tuple),
    text=QUERY_TEXT,
    incident_id=st.none() | st.sampled_from([*INCIDENTS, "front-7", "nope"]),
    limit=st.integers(1, 10),
    offset=st.integers(0, 12),
)
# Free text alone (counted in the full-text index alone).
text_queries = st.builds(
    ClipQuery, text=QUERY_TEXT, limit=st.integers(1, 10), offset=st.integers(0, 12)
)
SEARCH = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _state(row: Row) -> ClipState:
    start = BASE + timedelta(minutes=row.minute)
    return ClipState(
        clip_id=f"{row.camera_id}-{row.minute}",
        camera_id=row.camera_id,
        camera_name=CAMERAS[row.camera_id],
        source_type="local_folder",
        source_path=f"/in/{row.minute}.mp4",
        status=ClipStatus.DONE,
        start_ts=start,
        end_ts=start + timedelta(seconds=10),
        created_at=start,
        updated_at=start,
        analysis=row.analysis,
        filter_result=FilterResult(row.objects, {}, (), 1, "test", 1),
        alert_decision=None if row.alerted is None else AlertDecision(row.alerted, "test"),
        metadata={} if row.incident is None else {EVENT_KEY: row.incident},
    )


def _document(state: ClipState) -> list[str]:
    analysis = state.analysis
    parts = [
        state.camera_name,
        *(state.filter_result.detected_classes if state.filter_result else ()),
    ]
    if analysis is not None:
        parts += [analysis.summary, *analysis.observations]
    words: list[str] = []
    current = ""
    for char in " ".join(parts).lower() + " ":
        if char.isalnum():
            current += char
        elif current:
            words.append(current)
            current = ""
    return words


def _matches(state: ClipState, q: ClipQuery) -> bool:
    analysis, decision = state.analysis, state.alert_decision
    if q.camera_ids and state.camera_id not in q.camera_ids:
        return False
    if (q.start and state.start_ts < q.start) or (q.end and state.start_ts > q.end):
        return False
    if q.min_risk and (analysis is None or analysis.risk_level < q.min_risk):
        return False
    if q.activity_types and (analysis is None or analysis.activity_type not in q.activity_types):
        return False
    if q.alerted is not None and (decision.notify if decision else False) != q.alerted:
        return False
    if q.reviewed is not None and (state.review is not None) != q.reviewed:
        return False
    detected = state.filter_result.detected_classes if state.filter_result else ()
    if q.objects and not set(detected) & set(q.objects):
        return False
    if q.incident_id is not None and state.metadata.get(EVENT_KEY, state.clip_id) != q.incident_id:
        return False
    document = _document(state)
    return all(any(token.startswith(word) for token in document) for word in query_words(q.text))


def _brute_force(states: list[ClipState], q: ClipQuery) -> tuple[list[str], int]:
    found = sorted((s for s in states if _matches(s, q)), key=lambda s: s.start_ts, reverse=True)
    return [s.clip_id for s in found[q.offset : q.offset + q.limit]], len(found)


async def _filled_store(path: Path, generated: list[Row]) -> tuple[ClipStore, list[ClipState]]:
    store = ClipStore(path)
    await store.open()
    states = [_state(row) for row in generated]
    for state, row in zip(states, generated, strict=True):
        await store.upsert_state(state)
        if row.review is not None:
            await store.set_review([state.clip_id], row.review)
        state.review = row.review
    return store, states


@SEARCH
@given(generated=rows, asked=st.lists(queries | text_queries, min_size=1, max_size=4))
def test_every_query_matches_a_brute_force_filter(
    generated: list[Row], asked: list[ClipQuery]
) -> None:
    # Given a real store holding the generated clips
    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store, states = await _filled_store(Path(tmp) / "homesec.db", generated)
            try:
                for q in asked:
                    # When the history is searched with the generated filters and text
                    page, total = await store.query(q)

                    # Then the page and the total are what filtering in Python gives
                    assert ([s.clip_id for s in page], total) == _brute_force(states, q), q
            finally:
                await store.close()

    asyncio.run(run())


@settings(SEARCH, max_examples=300)
@given(text=st.text(max_size=60))
def test_no_free_text_ever_raises(text: str) -> None:
    # Given a store with a few clips
    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            generated = [Row(i, "front", None, ("person",), None, None) for i in range(3)]
            store, _ = await _filled_store(Path(tmp) / "homesec.db", generated)
            try:
                # When any text (FTS5 syntax, quotes, unicode, control characters) is searched
                page, total = await store.query(ClipQuery(text=text))
            finally:
                await store.close()
        # Then it answers (never an error), at most every clip
        assert len(page) == total <= 3

    asyncio.run(run())


async def test_an_incident_is_found_by_its_keys_whatever_the_other_filters(
    tmp_path: Path,
) -> None:
    # Given a store with an incident of two cameras, a clip that is its own incident, and clips
    # of other incidents
    generated = [
        Row(5, "front", _analysis("A courier arrives"), ("person",), None, None, "front-5"),
        Row(6, "garage", _analysis("The courier walks on"), ("person",), True, None, "front-5"),
        Row(7, "front", None, (), None, None),
        Row(8, "yard", None, (), None, None, "inc-b"),
    ]
    store, _ = await _filled_store(tmp_path / "homesec.db", generated)
    try:
        # When the incidents are asked for, alone and with other filters
        found = {
            name: [s.clip_id for s in (await store.query(q))[0]]
            for name, q in {
                "incident": ClipQuery(incident_id="front-5"),
                "own": ClipQuery(incident_id="front-7"),
                "camera": ClipQuery(incident_id="front-5", camera_ids=("garage",)),
                "text": ClipQuery(incident_id="front-5", text="arrives"),
                "alerted": ClipQuery(incident_id="front-5", alerted=False),
                "unknown": ClipQuery(incident_id="garage-6"),
            }.items()
        }
    finally:
        await store.close()

    # Then each finds the incident's clips (any camera, newest first) that the filters keep
    assert found == {
        "incident": ["garage-6", "front-5"],
        "own": ["front-7"],
        "camera": ["garage-6"],
        "text": ["front-5"],
        "alerted": ["front-5"],
        "unknown": [],
    }
    # And SQLite looks the incident up by its keys, never walking another filter's index
    conn = sqlite3.connect(tmp_path / "homesec.db")
    q = ClipQuery(
        incident_id="front-5",
        camera_ids=("front", "garage"),
        start=BASE,
        end=BASE + timedelta(days=1),
        min_risk=RiskLevel.LOW,
        text="courier",
    )
    plan = clip_query.query_plan(q, fts=clip_query.has_fts(conn))
    steps = [
        str(row[3])
        for sql, params in ((plan.page_sql, plan.page_params), (plan.count_sql, plan.count_params))
        for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)
    ]
    conn.close()
    searched = [step for step in steps if step.startswith(("SEARCH clip_states", "SCAN clip_st"))]
    assert searched, steps
    assert all("idx_clip_states_event_key" in step or "(clip_id=?)" in step for step in searched), (
        steps
    )


def test_limits_are_checked() -> None:
    # Given / When / Then a page size outside 1-500 or a negative offset is refused
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        with pytest.raises(ValueError, match="must be"):
            ClipQuery(**bad)  # type: ignore[arg-type]


def _sqlite_has_fts5() -> bool:
    conn = sqlite3.connect(":memory:")
    try:
        return "ENABLE_FTS5" in {row[0] for row in conn.execute("PRAGMA compile_options")}
    finally:
        conn.close()


def _write_version_5_database(path: Path, states: list[ClipState]) -> None:
    """A database as HomeSec with schema 5 left it (its own statements), holding clips."""
    conn = sqlite3.connect(path)
    for migration in store_module._MIGRATIONS[:5]:
        for statement in migration:
            assert isinstance(statement, str)
            conn.execute(statement)
    for state in states:
        assert state.analysis is not None and state.filter_result is not None
        conn.execute(
            "INSERT INTO clip_states (clip_id, camera_id, camera_name, source_type, source_path, "
            "status, start_ts, end_ts, created_at, updated_at, analysis, filter_result) "
            "VALUES (?, ?, ?, 'local_folder', '/in/x.mp4', 'done', ?, ?, ?, ?, ?, ?)",
            (
                state.clip_id,
                state.camera_id,
                state.camera_name,
                *(state.start_ts.isoformat(),) * 4,
                store_module._json(state.analysis.to_dict()),
                store_module._json(state.filter_result.to_dict()),
            ),
        )
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()


def _analysis(summary: str, *observations: str) -> AnalysisResult:
    return AnalysisResult(RiskLevel.MEDIUM, ActivityType.DELIVERY, summary, observations)


async def test_a_version_5_database_gets_its_clips_into_the_search_index(tmp_path: Path) -> None:
    # Given a real schema 5 file with two clips (one with an accented, non-ASCII observation)
    path = tmp_path / "homesec.db"
    old = [
        replace(
            _state(Row(1, "front", None, ("person",), None, None)),
            analysis=_analysis("A courier leaves a parcel", "Livré à la porte"),
        ),
        replace(
            _state(Row(2, "garage", None, ("car",), None, None)),
            analysis=_analysis("A van parks"),
        ),
    ]
    _write_version_5_database(path, old)

    # When the store opens it
    store = ClipStore(path)
    await store.open()

    # Then it is at schema 6 or later with the search indexes, and the old clips are found by text
    assert await store.schema_version() == store_module.SCHEMA_VERSION >= 6
    conn = sqlite3.connect(path)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert {"idx_clip_states_start", "idx_clip_states_risk"} <= names
    assert (clip_query.FTS_TABLE in names) is _sqlite_has_fts5()
    found = {
        text: [s.clip_id for s in (await store.query(ClipQuery(text=text)))[0]]
        for text in ("parcel", "livre", "garage car", "porte", "nothing")
    }
    await store.close()
    assert found == {
        "parcel": ["front-1"],
        "livre": ["front-1"],  # diacritics folded: "livre" finds "Livré"
        "garage car": ["garage-2"],
        "porte": ["front-1"],
        "nothing": [],
    }


async def test_the_index_follows_a_changed_analysis(tmp_path: Path) -> None:
    # Given a stored clip whose summary mentions a courier
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    state = replace(_state(Row(1, "front", None, (), None, None)), analysis=_analysis("courier"))
    await store.upsert_state(state)

    # When it is analysed again and saved with a new summary
    state.analysis = _analysis("a fox crosses")
    await store.upsert_state(state)

    # Then the new words find it and the old ones do not
    fox, _ = await store.query(ClipQuery(text="fox"))
    courier, total = await store.query(ClipQuery(text="courier"))
    await store.close()
    assert [s.clip_id for s in fox] == ["front-1"]
    assert (courier, total) == ([], 0)


async def test_without_fts5_text_search_falls_back_to_like(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a SQLite build without FTS5 (the probe says so) and a store with two clips
    monkeypatch.setattr(clip_query, "fts5_available", lambda conn: False)
    store = ClipStore(tmp_path / "homesec.db")
    with caplog.at_level(logging.WARNING):
        await store.open()
    for row, summary in (
        (Row(1, "front", None, (), None, None), "A delivery 100%"),
        (Row(2, "yard", None, (), None, None), "A dog_walker"),
    ):
        await store.upsert_state(replace(_state(row), analysis=_analysis(summary)))

    # When text is searched (LIKE wildcards in it are plain characters)
    found = {
        text: [s.clip_id for s in (await store.query(ClipQuery(text=text)))[0]]
        for text in ("deliv", "yard dog", "100%", "%", "walker", "cat")
    }
    await store.close()

    # Then the words are found as substrings, and the fallback was logged
    assert found == {
        "deliv": ["front-1"],
        "yard dog": ["yard-2"],
        "100%": ["front-1"],
        "%": ["yard-2", "front-1"],  # no words: no text filter
        "walker": ["yard-2"],
        "cat": [],
    }
    assert "no FTS5" in caplog.text
    assert "uses LIKE" in caplog.text
