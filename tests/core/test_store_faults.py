"""Transient store faults (locked, busy, full disk, I/O error) only delay a clip.

Real SQLite everywhere: a second connection holding an exclusive lock, a database that reaches
its page limit (SQLITE_FULL from SQLite itself), and a connection subclass that raises the error
SQLite raises at the Nth statement of a clip's run, for every statement of the pipeline.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.interfaces import Notifier
from custom_components.homesec_nvr.core.models import (
    Clip,
    ClipEventType,
    ClipState,
    ClipStatus,
    Detection,
    FilterResult,
    RiskLevel,
)
from custom_components.homesec_nvr.core.runner import (
    ClipPipeline,
    PipelineSettings,
    StoreRetrySettings,
)
from custom_components.homesec_nvr.core.storage.local import LocalStorage
from custom_components.homesec_nvr.core.store import (
    StoreError,
    StorePermanentError,
    StoreTransientError,
    is_corrupt,
    is_transient,
    typed_error,
)

from ..video import write_clip
from .doubles import ScriptedFilter, ScriptedNotifier, ScriptedVLM, filter_result, make_clip
from .faults import (
    CORRUPT_FAULT,
    FAST_RETRY,
    TRANSIENT_FAULTS,
    FaultPlan,
    FaultyStore,
    PipelineKit,
    exclusive_lock,
    set_up_storage,
    sqlite_error,
    wait_for,
)

# SQLite statements of one alerting clip's run (submit to done, two notifiers, VLM on).
# The fault-injection family below covers each of them; this guard says when one is added.
HAPPY_PATH_STATEMENTS = 20
READONLY_FAULT = sqlite_error(
    sqlite3.OperationalError, "attempt to write a readonly database", 8, "SQLITE_READONLY"
)
BUSY_TIMEOUT_S = 0.05


@dataclass
class Rig:
    """A faulty (once armed) real store, real storage and a real clip file."""

    plan: FaultPlan
    store: FaultyStore
    kit: PipelineKit
    clip_path: Path
    tmp: Path

    def alerting(
        self, notifiers: list[Notifier], settings: PipelineSettings | None = None
    ) -> tuple[ClipPipeline, ScriptedFilter, ScriptedVLM]:
        filt = ScriptedFilter(filter_result("person"))
        vlm = ScriptedVLM(risk=RiskLevel.HIGH)
        return self.kit.pipeline(filt, vlm, notifiers, settings=settings), filt, vlm


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncGenerator[Rig]:
    plan = FaultPlan()
    store = FaultyStore(tmp_path / "db" / "homesec.db", plan, busy_timeout_s=BUSY_TIMEOUT_S)
    await store.open()
    (tmp_path / "in").mkdir()
    clip_path = write_clip(tmp_path / "in" / "clip.mp4")
    kit = PipelineKit(store, set_up_storage(tmp_path / "storage"))
    yield Rig(plan, store, kit, clip_path, tmp_path)
    await kit.stop_all()
    await store.close()


async def _assert_done_once(rig: Rig, notifiers: list[ScriptedNotifier], clip_id: str) -> None:
    state = await rig.store.get_state(clip_id)
    assert state is not None
    assert state.status is ClipStatus.DONE, state.error
    assert state.error is None
    assert state.upload_done and state.notified
    for notifier in notifiers:
        assert (notifier.calls, len(notifier.sent)) == (1, 1), notifier.name
    events = await rig.store.events(clip_id)
    sent = sorted(
        e.data["notifier"] for e in events if e.event_type is ClipEventType.NOTIFICATION_SENT
    )
    assert sent == sorted(n.name for n in notifiers)
    assert not [e for e in events if e.event_type.value.endswith("_failed")]
    finished = [s for c, s in rig.kit.listener.stages if c == clip_id and s == "finished"]
    assert finished == ["finished"]


# -- typed errors -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", sorted(TRANSIENT_FAULTS))
def test_transient_sqlite_faults_become_transient_store_errors(fault: str) -> None:
    # Given the error SQLite raises for this fault
    raw = TRANSIENT_FAULTS[fault]()

    # When it is typed
    typed = typed_error(raw, "clip database")

    # Then it is transient (retry later), never permanent or corrupt, and names the code
    assert is_transient(raw) and not is_corrupt(raw)
    assert isinstance(typed, StoreTransientError) and not isinstance(typed, StorePermanentError)
    assert typed.code_name == raw.sqlite_errorname  # type: ignore[attr-defined]
    assert str(typed) == f"clip database: {raw}"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.OperationalError("disk I/O error"), True),
        (sqlite3.OperationalError("no such table: clip_states"), False),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), False),
        (
            sqlite_error(
                sqlite3.OperationalError,
                "attempt to write a readonly database",
                8,
                "SQLITE_READONLY",
            )(),
            False,
        ),
        (CORRUPT_FAULT(), False),
    ],
)
def test_errors_without_or_with_codes_are_classified(error: sqlite3.Error, transient: bool) -> None:
    # Given an SQLite error (some without a result code, as older builds raise them)
    # When it is classified
    typed = typed_error(error, "x")

    # Then only faults that go away are transient
    assert is_transient(error) is transient
    assert isinstance(typed, StoreTransientError if transient else StorePermanentError)


async def test_a_real_exclusive_lock_raises_a_typed_transient_error(rig: Rig) -> None:
    # Given another connection holding an exclusive lock on the database file
    # When the store writes past its busy timeout
    with exclusive_lock(rig.store.path), pytest.raises(StoreTransientError) as caught:
        await rig.store.upsert_state(_state("locked"))

    # Then the error is typed (with the raw SQLite error as its cause), and the store works after
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert not isinstance(caught.value, sqlite3.Error)
    await rig.store.upsert_state(_state("locked"))
    assert await rig.store.get_state("locked") is not None


async def test_a_programming_error_is_a_typed_permanent_error(rig: Rig) -> None:
    # Given a store whose next statement fails as a bug would (no such table)
    rig.plan.error = sqlite_error(sqlite3.OperationalError, "no such table: x", 1, "SQLITE_ERROR")
    rig.plan.at, rig.plan.armed = 1, True

    # When it is called, Then the error is permanent and typed
    with pytest.raises(StorePermanentError, match=r"^no such table: x$") as caught:
        await rig.store.get_state("x")
    assert caught.value.code_name == "SQLITE_ERROR"


# -- submit ---------------------------------------------------------------------------------


async def test_submit_waits_out_a_short_lock(rig: Rig) -> None:
    # Given the database locked by another connection for 0.3 s (longer than the busy timeout)
    notifier = ScriptedNotifier("phone")
    pipeline, _, _ = rig.alerting([notifier])

    with exclusive_lock(rig.store.path):
        submit = asyncio.ensure_future(pipeline.submit(make_clip(rig.clip_path)))
        await asyncio.sleep(0.3)
        # Then submit is still waiting (no raw error, no refusal)
        assert not submit.done()
        assert pipeline.store_unavailable_since is not None

    # When the lock is released, Then the clip is accepted and processed once
    assert await submit is True
    await pipeline.wait_idle()
    await _assert_done_once(rig, [notifier], "clip-1")
    assert pipeline.store_unavailable_since is None
    assert pipeline.store_faults >= 1


async def test_submit_raises_a_typed_error_after_its_deadline_and_nothing_is_recorded(
    rig: Rig,
) -> None:
    # Given a submit deadline of 0.2 s and a lock that outlasts it
    notifier = ScriptedNotifier("phone")
    settings = PipelineSettings(
        retry=FAST_RETRY,
        store_retry=StoreRetrySettings(base_delay_s=0.01, max_delay_s=0.05, submit_deadline_s=0.2),
    )
    pipeline, _, _ = rig.alerting([notifier], settings)

    # When a clip is submitted
    with exclusive_lock(rig.store.path), pytest.raises(StoreTransientError) as caught:
        await pipeline.submit(make_clip(rig.clip_path))

    # Then the error is typed (not sqlite3's), nothing of the clip was written
    assert not isinstance(caught.value, sqlite3.Error)
    assert isinstance(caught.value, StoreError)
    assert await rig.store.get_state("clip-1") is None
    assert await rig.store.events("clip-1") == []
    # and the source's next hand-over is accepted and processed exactly once
    assert await pipeline.submit(make_clip(rig.clip_path)) is True
    await pipeline.wait_idle()
    await _assert_done_once(rig, [notifier], "clip-1")


async def test_a_clip_recorded_but_not_in_flight_is_processed_when_handed_over_again(
    rig: Rig,
) -> None:
    # Given a clip whose record was committed though its hand-over reported a failure
    #   (the state row exists, unfinished, and no pipeline is processing it)
    notifier = ScriptedNotifier("phone")
    pipeline, _, _ = rig.alerting([notifier])
    clip = make_clip(rig.clip_path)
    await rig.store.upsert_state(_state_of(clip))

    # When the source hands the same clip over again
    accepted = await pipeline.submit(clip)
    await pipeline.wait_idle()

    # Then it is processed (not refused as a duplicate), once
    assert accepted is True
    await _assert_done_once(rig, [notifier], "clip-1")
    assert await pipeline.submit(clip) is False


# -- a real lock at every stage --------------------------------------------------------------


class GatedStorage(LocalStorage):
    """Local storage whose put_clip waits for a gate."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = asyncio.Event()
        self.waiting = False

    async def put_clip(self, clip: Clip) -> str:
        self.waiting = True
        await self.gate.wait()
        return await super().put_clip(clip)


@pytest.mark.parametrize("stage", ["upload", "filter", "vlm", "notify"])
async def test_a_lock_held_past_the_busy_timeout_mid_pipeline_only_delays_the_clip(
    rig: Rig, stage: str
) -> None:
    # Given a clip held at this stage
    storage = GatedStorage(rig.tmp / "storage")
    rig.kit.storage = storage
    if stage != "upload":
        storage.gate.set()
    filt = ScriptedFilter(filter_result("person"))
    vlm = ScriptedVLM(risk=RiskLevel.HIGH)
    first, second = ScriptedNotifier("phone"), ScriptedNotifier("mqtt")
    gates = {"filter": filt, "vlm": vlm, "notify": first}
    gated: Callable[[], bool] = lambda: storage.waiting  # noqa: E731
    if stage in gates:
        gates[stage].gate = asyncio.Event()  # type: ignore[attr-defined]
        gated = {
            "filter": lambda: filt.running > 0,
            "vlm": lambda: vlm.calls > 0,
            "notify": lambda: first.calls > 0,
        }[stage]
    pipeline = rig.kit.pipeline(filt, vlm, [first, second])
    assert await pipeline.submit(make_clip(rig.clip_path))
    await wait_for(gated)

    # When another connection locks the database for 0.4 s (8x the busy timeout) as the
    # stage goes on
    with exclusive_lock(rig.store.path):
        (storage.gate.set() if stage == "upload" else gates[stage].gate.set())  # type: ignore[attr-defined]
        await asyncio.sleep(0.4)
        # Then the clip waits: not finished, not in error
        assert pipeline.store_unavailable_since is not None
        assert pipeline.clips_in_flight == 1

    # and once the lock is gone it completes, with every notifier called exactly once
    await pipeline.wait_idle()
    await _assert_done_once(rig, [first, second], "clip-1")
    assert (filt.calls, vlm.calls) == (1, 1)
    assert pipeline.store_unavailable_since is None
    assert "database is locked" in (pipeline.store_last_error or "")


# -- a real SQLITE_FULL ----------------------------------------------------------------------


async def test_a_real_full_database_only_delays_the_clip(rig: Rig) -> None:
    # Given a clip held in its filter, and a database that may not grow by a single page
    big = FilterResult(
        detected_classes=("person",),
        best_confidence={"person": 0.9},
        detections=tuple(
            Detection("person", 0.9, (float(i), 2.0, 30.0, 60.0), i / 10) for i in range(400)
        ),
        frames_sampled=400,
        model="scripted",
        duration_ms=1,
    )
    filt = ScriptedFilter(big)
    filt.gate = asyncio.Event()
    notifier = ScriptedNotifier("phone")
    pipeline = rig.kit.pipeline(filt, None, [notifier])
    assert await pipeline.submit(make_clip(rig.clip_path))
    await wait_for(lambda: filt.running > 0)
    pages = await rig.store._run(lambda: rig.store._db().execute("PRAGMA page_count").fetchone()[0])
    await rig.store._run(lambda: rig.store._db().execute(f"PRAGMA max_page_count = {pages}"))

    # When the filter's large result has to be saved
    filt.gate.set()
    await wait_for(lambda: "full" in (pipeline.store_last_error or ""))
    await asyncio.sleep(0.1)
    state = await rig.store.get_state("clip-1")
    assert state is not None and state.status is not ClipStatus.ERROR
    assert notifier.calls == 0

    # Then freeing space lets the same clip go on to its one alert
    await rig.store._run(lambda: rig.store._db().execute("PRAGMA max_page_count = 1000000"))
    await pipeline.wait_idle()
    await _assert_done_once(rig, [notifier], "clip-1")
    assert filt.calls == 1


# -- a fault at every statement of the pipeline ------------------------------------------------


async def test_the_happy_path_makes_the_statements_the_fault_family_covers(rig: Rig) -> None:
    # Given an armed plan without faults
    rig.plan.armed = True
    notifiers = [ScriptedNotifier("phone"), ScriptedNotifier("mqtt")]
    pipeline, _, _ = rig.alerting(list(notifiers))

    # When one alerting clip runs
    assert await pipeline.submit(make_clip(rig.clip_path))
    await pipeline.wait_idle()

    # Then it made exactly the statements the parametrized family injects faults into
    assert rig.plan.statements == HAPPY_PATH_STATEMENTS, rig.plan.log
    await _assert_done_once(rig, notifiers, "clip-1")


@pytest.mark.parametrize("fault", sorted(TRANSIENT_FAULTS))
@pytest.mark.parametrize("at", range(1, HAPPY_PATH_STATEMENTS + 1))
async def test_a_transient_fault_at_any_statement_only_delays_the_clip(
    rig: Rig, at: int, fault: str
) -> None:
    # Given a fault at statement `at` of the clip's run that lasts for 3 statements in a row
    rig.plan.error = TRANSIENT_FAULTS[fault]
    rig.plan.at, rig.plan.count, rig.plan.armed = at, 3, True
    notifiers = [ScriptedNotifier("phone"), ScriptedNotifier("mqtt")]
    pipeline, filt, vlm = rig.alerting(list(notifiers))

    # When an alerting clip is submitted and processed
    accepted = await pipeline.submit(make_clip(rig.clip_path))
    await pipeline.wait_idle()

    # Then the fault struck, was waited out, and decided nothing: done, every stage ran once,
    # every notifier was called exactly once
    assert accepted is True
    assert rig.plan.raised == 3
    assert pipeline.store_faults >= 1
    await _assert_done_once(rig, notifiers, "clip-1")
    assert (filt.calls, vlm.calls) == (1, 1)
    assert pipeline.store_unavailable_since is None


@pytest.mark.parametrize("at", range(1, HAPPY_PATH_STATEMENTS + 1, 3))
async def test_a_long_outage_at_any_statement_keeps_the_clip_until_the_store_is_back(
    rig: Rig, at: int
) -> None:
    # Given a full disk from statement `at` on for 60 statements (many backoff rounds)
    rig.plan.error = TRANSIENT_FAULTS["disk_full"]
    rig.plan.at, rig.plan.count, rig.plan.armed = at, 60, True
    notifiers = [ScriptedNotifier("phone"), ScriptedNotifier("mqtt")]
    pipeline, _, _ = rig.alerting(list(notifiers))

    # When a clip is processed
    assert await pipeline.submit(make_clip(rig.clip_path))
    await pipeline.wait_idle()

    # Then it finished once the disk had room again, alerting once
    assert rig.plan.raised == 60
    await _assert_done_once(rig, notifiers, "clip-1")


def _state_of(clip: Clip) -> ClipState:
    return ClipState(
        clip_id=clip.clip_id,
        camera_id=clip.camera_id,
        camera_name=clip.camera_name,
        source_type=clip.source_type,
        source_path=str(clip.path),
        status=ClipStatus.QUEUED,
        start_ts=clip.start_ts,
        end_ts=clip.end_ts,
        created_at=clip.start_ts,
        updated_at=clip.start_ts,
    )


def _state(clip_id: str) -> ClipState:
    return _state_of(make_clip(Path("/in/x.mp4"), clip_id=clip_id))
