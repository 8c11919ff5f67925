"""A damaged clip database is moved aside and replaced; nothing is deleted, nothing is raised.

Real database files written by the store, then damaged the way disks and power cuts do it:
pages overwritten with garbage or zeroes and files cut short at many offsets, a wrong header,
a damaged file together with its -wal/-shm. Also the damage met during use (the error SQLite
raises for it, at every statement of a clip's run).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import threading
from collections.abc import AsyncGenerator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.models import (
    AlertDecision,
    ClipEvent,
    ClipEventType,
    ClipState,
    ClipStatus,
    RiskLevel,
)
from custom_components.homesec_nvr.core.store import (
    MAX_RECOVERIES,
    SCHEMA_VERSION,
    ClipStore,
    StorePermanentError,
    StoreRecovery,
)

from ..video import write_clip
from .doubles import ScriptedFilter, ScriptedNotifier, ScriptedVLM, filter_result, make_clip
from .faults import CORRUPT_FAULT, FaultPlan, FaultyStore, PipelineKit, set_up_storage

CLIPS = 60
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
OFFSETS = [i / 12 for i in range(12)]  # where in the file a page is damaged or the file cut
# SQLite statements of one alerting clip's run (as in test_store_faults).
HAPPY_PATH_STATEMENTS = 20


def _state(clip_id: str, index: int) -> ClipState:
    start = NOW - timedelta(minutes=index)
    return ClipState(
        clip_id=clip_id,
        camera_id="cam",
        camera_name="Front door",
        source_type="local_folder",
        source_path=f"/in/{clip_id}.mp4",
        status=ClipStatus.DONE,
        start_ts=start,
        end_ts=start + timedelta(seconds=10),
        created_at=start,
        updated_at=start,
        metadata={"note": "x" * 200},
        alert_decision=AlertDecision(True, f"risk high ({index})"),
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real, closed clip database holding CLIPS clips with events."""
    import asyncio

    path = tmp_path_factory.mktemp("pristine") / "homesec.db"

    async def build() -> None:
        store = ClipStore(path)
        await store.open()
        for index in range(CLIPS):
            await store.upsert_state(_state(f"clip-{index:03d}", index))
            for kind in (ClipEventType.CLIP_RECORDED, ClipEventType.NOTIFICATION_SENT):
                await store.add_event(
                    ClipEvent(f"clip-{index:03d}", kind, NOW, data={"notifier": "phone"})
                )
        await store.close()

    asyncio.run(build())
    assert not Path(f"{path}-wal").exists()  # closed cleanly: everything in the main file
    return path.read_bytes()


def _page_size(data: bytes) -> int:
    size = int.from_bytes(data[16:18], "big")
    return 65536 if size == 1 else size


def _damage(data: bytes, kind: str, offset: float) -> bytes:
    page = _page_size(data)
    pages = len(data) // page
    assert pages >= 8, "the sample database should span many pages"
    index = min(pages - 1, int(offset * pages))
    start = index * page
    if kind == "garbage_page":
        noise = random.Random(index).randbytes(page)
        return data[:start] + noise + data[start + page :]
    if kind == "zeroed_page":
        return data[:start] + bytes(page) + data[start + page :]
    if kind == "cut_short":
        return data[: max(1, start + page // 3)]
    raise AssertionError(kind)


def _readable_by_sqlite(path: Path) -> bool:
    """An independent opinion: SQLite itself checks the file and reads every row."""
    probe = path.with_name("probe.db")
    shutil.copyfile(path, probe)
    try:
        conn = sqlite3.connect(probe)
        try:
            ok = [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
            states = conn.execute("SELECT * FROM clip_states").fetchall()
            events = conn.execute("SELECT * FROM clip_events").fetchall()
            return ok and len(states) == CLIPS and len(events) == 2 * CLIPS
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    finally:
        probe.unlink()


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _contents(path: Path) -> dict[str, bytes]:
    """The database file and its -wal/-shm, by suffix."""
    return {s: Path(f"{path}{s}").read_bytes() for s in ("", "-wal", "-shm")}


def _garble_first_page(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(random.Random(7).randbytes(min(len(data), 4096)) + data[4096:])


async def _assert_works(store: ClipStore) -> None:
    """The store reads and writes."""
    await store.upsert_state(_state("new", 0))
    await store.add_event(ClipEvent("new", ClipEventType.CLIP_RECORDED, NOW))
    state = await store.get_state("new")
    assert state is not None and state.alert_decision == AlertDecision(True, "risk high (0)")
    assert [e.event_type for e in await store.events("new")] == [ClipEventType.CLIP_RECORDED]
    assert await store.schema_version() == SCHEMA_VERSION


@pytest.fixture
async def opened() -> AsyncGenerator[list[ClipStore]]:
    stores: list[ClipStore] = []
    yield stores
    for store in stores:
        await store.close()


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("kind", ["garbage_page", "zeroed_page", "cut_short"])
async def test_a_damaged_database_is_moved_aside_and_a_new_one_works(
    tmp_path: Path, pristine: bytes, opened: list[ClipStore], kind: str, offset: float
) -> None:
    # Given the store's database file damaged this way at this place (SQLite itself can no
    # longer check or read it all)
    path = tmp_path / "homesec.db"
    damaged = _damage(pristine, kind, offset)
    path.write_bytes(damaged)
    assert not _readable_by_sqlite(path)
    store = ClipStore(path)
    opened.append(store)
    reported: list[StoreRecovery] = []
    store.add_recovery_listener(reported.append)

    # When the store opens it
    await store.open()

    # Then nothing was raised: the damaged file was moved aside untouched and reported, and a
    # new, empty database in its place works
    assert store.recovered_from is not None
    assert store.recovered_from.name.startswith("homesec.db.damaged-")
    assert _read(store.recovered_from) == damaged
    assert reported == store.recoveries and len(reported) == 1
    assert reported[0].reason
    assert await store.recent_states(limit=CLIPS) == []
    await _assert_works(store)
    assert _read(path)  # the new database in the old place


async def test_an_intact_database_is_not_moved(
    tmp_path: Path, pristine: bytes, opened: list[ClipStore]
) -> None:
    # Given an intact database file
    path = tmp_path / "homesec.db"
    path.write_bytes(pristine)

    # When the store opens it
    store = ClipStore(path)
    opened.append(store)
    await store.open()

    # Then it is used as it is, with every clip
    assert store.recovered_from is None
    assert len(await store.recent_states(limit=CLIPS * 2)) == CLIPS
    await _assert_works(store)


async def test_a_valid_header_with_broken_pages_is_recovered_at_open(
    tmp_path: Path, pristine: bytes, opened: list[ClipStore]
) -> None:
    # Given a file whose header is valid but whose schema page (the rest of page 1) is garbage:
    # it opens, then every statement raises sqlite3.DatabaseError
    path = tmp_path / "homesec.db"
    page = _page_size(pristine)
    noise = random.Random(1).randbytes(page - 100)
    path.write_bytes(pristine[:100] + noise + pristine[page:])
    with closing(sqlite3.connect(path)) as probe, pytest.raises(sqlite3.DatabaseError):
        probe.execute("SELECT count(*) FROM clip_states").fetchone()
    damaged = path.read_bytes()

    # When the store opens it
    store = ClipStore(path)
    opened.append(store)
    await store.open()

    # Then it is moved aside as it was and a fresh database works
    assert store.recovered_from is not None
    assert store.recovered_from.read_bytes() == damaged
    assert await store.recent_states() == []
    await _assert_works(store)


async def test_a_file_that_is_not_a_database_is_moved_aside(
    tmp_path: Path, opened: list[ClipStore]
) -> None:
    # Given a file in the database's place that is not a database at all
    path = tmp_path / "homesec.db"
    path.write_bytes(b"this is not an SQLite file\n" * 200)

    # When the store opens it
    store = ClipStore(path)
    opened.append(store)
    await store.open()

    # Then the file is kept aside, and the new database works
    assert store.recovered_from is not None
    assert store.recovered_from.read_bytes() == b"this is not an SQLite file\n" * 200
    assert "not a database" in store.recoveries[0].reason
    await _assert_works(store)


async def test_a_damaged_database_with_its_wal_and_shm_moves_aside_together(
    tmp_path: Path, pristine: bytes, opened: list[ClipStore]
) -> None:
    # Given the files of a database Home Assistant was killed on (main file, -wal and -shm),
    # the main file then damaged
    live = tmp_path / "live" / "homesec.db"
    writer = ClipStore(live)
    await writer.open()
    await writer._run(lambda: writer._db().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
    await writer.upsert_state(_state("in-wal", 0))
    image = tmp_path / "homesec.db"
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{live}{suffix}", f"{image}{suffix}")
    await writer.close()
    _garble_first_page(image)
    originals = _contents(image)
    assert all(originals.values())  # three non-empty files
    # When the store opens the image
    store = ClipStore(image)
    opened.append(store)
    await store.open()

    # Then all three files were moved aside together, and a new one works
    recovery = store.recoveries[0]
    assert [p.name for p in recovery.moved] == [
        f"{recovery.damaged_path.name}{s}" for s in ("", "-wal", "-shm")
    ]
    kept = _contents(recovery.damaged_path)
    # the file and its log byte for byte (the -shm is only SQLite's index of the log)
    assert (kept[""], kept["-wal"]) == (originals[""], originals["-wal"])
    assert kept["-shm"]
    await _assert_works(store)


async def test_two_recoveries_keep_both_damaged_files(
    tmp_path: Path, opened: list[ClipStore]
) -> None:
    # Given a database that is found damaged twice in a row (same second)
    path = tmp_path / "homesec.db"
    first = ClipStore(path)
    opened.append(first)
    path.write_bytes(b"garbage one" * 100)
    await first.open()
    await first.close()
    path.write_bytes(b"garbage two" * 100)

    # When it is opened again
    second = ClipStore(path)
    opened.append(second)
    await second.open()

    # Then both damaged files are kept under different names
    kept = {r.damaged_path for r in first.recoveries + second.recoveries}
    assert len(kept) == 2
    assert {_read(p) for p in kept} == {b"garbage one" * 100, b"garbage two" * 100}
    await _assert_works(second)


# -- damage met during use --------------------------------------------------------------------


@pytest.mark.parametrize("at", range(1, HAPPY_PATH_STATEMENTS + 1))
async def test_damage_met_during_a_clip_is_recovered_and_the_clip_finishes(
    tmp_path: Path, at: int
) -> None:
    # Given a store whose statement `at` of a clip's run finds the database malformed
    plan = FaultPlan(error=CORRUPT_FAULT, at=at, count=1)
    store = FaultyStore(tmp_path / "db" / "homesec.db", plan)
    await store.open()
    plan.armed = True
    (tmp_path / "in").mkdir()
    storage = set_up_storage(tmp_path / "storage")
    notifiers = [ScriptedNotifier("phone"), ScriptedNotifier("mqtt")]
    pipeline = PipelineKit(store, storage).pipeline(
        ScriptedFilter(filter_result("person")), ScriptedVLM(risk=RiskLevel.HIGH), notifiers
    )

    # When an alerting clip is processed
    assert await pipeline.submit(make_clip(write_clip(tmp_path / "in" / "clip.mp4")))
    await pipeline.wait_idle()

    # Then the database was replaced once (the old file kept), and the clip still finished
    # in the new one with its one alert per notifier and its stored copy
    assert plan.raised == 1
    assert store.recovered_from is not None and store.recovered_from.is_file()
    state = await store.get_state("clip-1")
    assert state is not None and state.status is ClipStatus.DONE
    assert all((n.calls, len(n.sent)) == (1, 1) for n in notifiers)
    assert state.clip_uri is not None
    stored = storage.local_path(state.clip_uri)
    assert stored is not None and stored.is_file()
    await pipeline.stop()
    await store.close()


async def test_a_disk_that_keeps_damaging_the_database_is_left_alone(tmp_path: Path) -> None:
    # Given a store whose every read finds the database malformed (a failing disk)
    plan = FaultPlan(error=CORRUPT_FAULT, at=1, count=10**6, match="SELECT")
    store = FaultyStore(tmp_path / "homesec.db", plan)
    await store.open()
    plan.armed = True

    # When it is read again and again
    for _ in range(MAX_RECOVERIES + 2):
        with pytest.raises(StorePermanentError):
            await store.get_state("x")

    # Then it stopped replacing the file after the allowed recoveries, keeping every file
    assert len(store.recoveries) == MAX_RECOVERIES
    assert all(r.damaged_path.is_file() for r in store.recoveries)
    assert len({r.damaged_path for r in store.recoveries}) == MAX_RECOVERIES
    plan.armed = False
    await store.close()


async def test_a_new_database_that_cannot_be_opened_yet_is_opened_once_it_can(
    tmp_path: Path,
) -> None:
    # Given a store whose database is found malformed, and whose new file cannot be opened
    # for a while either (every statement fails)
    plan = FaultPlan(error=CORRUPT_FAULT, at=1, count=10**6)
    store = FaultyStore(tmp_path / "homesec.db", plan)
    await store.open()
    await store.upsert_state(_state("before", 0))
    plan.armed = True

    # When it is used meanwhile, Then it raises typed errors (no raw sqlite3 error), having
    # moved the damaged file aside once
    for _ in range(3):
        with pytest.raises(StorePermanentError):
            await store.get_state("before")
    assert len(store.recoveries) == 1
    assert store.recovered_from is not None and store.recovered_from.is_file()

    # When the disk works again, Then the store opens its new database by itself
    plan.armed = False
    await _assert_works(store)
    assert await store.get_state("before") is None  # its row is in the moved file
    await store.close()


async def test_recovery_keeps_every_clip_file_and_the_pipeline_goes_on(
    tmp_path: Path, pristine: bytes
) -> None:
    # Given a clip processed and stored, then the database damaged while Home Assistant was off
    db = tmp_path / "db" / "homesec.db"
    storage = set_up_storage(tmp_path / "storage")
    (tmp_path / "in").mkdir()
    store = ClipStore(db)
    await store.open()
    kit = PipelineKit(store, storage)
    first = kit.pipeline(ScriptedFilter(filter_result("person")), None, [ScriptedNotifier("a")])
    assert await first.submit(make_clip(write_clip(tmp_path / "in" / "one.mp4"), "one"))
    await first.wait_idle()
    state = await store.get_state("one")
    assert state is not None and state.clip_uri is not None
    stored = storage.local_path(state.clip_uri)
    await store.close()
    db.write_bytes(_damage(db.read_bytes(), "zeroed_page", 0.0))

    # When Home Assistant starts again and a new clip arrives
    store = ClipStore(db)
    await store.open()
    notifier = ScriptedNotifier("phone")
    second = PipelineKit(store, storage).pipeline(
        ScriptedFilter(filter_result("person")), None, [notifier]
    )
    await second.resume_unfinished()
    assert await second.submit(make_clip(write_clip(tmp_path / "in" / "two.mp4"), "two"))
    await second.wait_idle()

    # Then the old clip's file is still there, the damaged database kept, and the new clip done
    assert stored is not None and stored.is_file()
    assert store.recovered_from is not None and store.recovered_from.is_file()
    new = await store.get_state("two")
    assert new is not None and new.status is ClipStatus.DONE and len(notifier.sent) == 1
    await store.close()


class CountingStore(ClipStore):
    """A real store that keeps every connection it opened (to see that each was closed);
    opening the second one (a recovery's new database) waits for `release`."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.connections: list[sqlite3.Connection] = []
        self.reopening, self.release = threading.Event(), threading.Event()

    def _connect(self) -> sqlite3.Connection:
        if self.connections:
            self.reopening.set()
            self.release.wait(10)
        # Any thread may ask the test's question "closed?" of it.
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self.connections.append(conn)
        return conn


def _is_closed(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


async def test_closing_while_a_recovery_opens_a_new_database_leaves_no_connection_open(
    tmp_path: Path,
) -> None:
    # Given a store recovering from damage on its worker thread, opening the new database
    store = CountingStore(tmp_path / "homesec.db")
    await store.open()
    calls = 0

    def damaged_once() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise CORRUPT_FAULT()

    call = asyncio.ensure_future(store._run(damaged_once))
    await asyncio.get_running_loop().run_in_executor(None, store.reopening.wait, 10)

    # When the store is closed meanwhile, and the new database then opens
    closing_task = asyncio.ensure_future(store.close())
    await asyncio.sleep(0.05)
    store.release.set()
    await call
    await closing_task

    # Then the call ran on the new database, and every connection the store opened is closed
    assert calls == 2
    assert len(store.recoveries) == 1
    assert len(store.connections) == 2
    assert all(_is_closed(conn) for conn in store.connections)
