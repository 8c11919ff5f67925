"""After a stop or a kill, every clip finishes exactly once and no stored notification repeats.

Two ways Home Assistant goes away mid-clip, each at every stage and before/during every store
call of an alerting clip's run (two notifiers, VLM on):
- a stop: the pipeline is stopped (Home Assistant's shutdown); writes on their way and
  notifications being sent get a grace time to land;
- a kill: the first process just dies (its store call never runs, nothing it started goes on);
  its data is what was committed.
Then a new store and pipeline on the same database file resume the clip, and the source hands
the clip over again (as sources do after a restart).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.interfaces import Notifier, ObjectFilter, VLMAnalyzer
from custom_components.homesec_nvr.core.models import (
    ActivityType,
    Alert,
    AnalysisResult,
    Clip,
    ClipEventType,
    ClipStatus,
    FilterResult,
    RiskLevel,
)
from custom_components.homesec_nvr.core.runner import (
    ClipPipeline,
    PipelineSettings,
    StoreRetrySettings,
)
from custom_components.homesec_nvr.core.storage.local import LocalStorage
from custom_components.homesec_nvr.core.store import ClipStore

from ..video import write_clip
from .doubles import RecordingListener, filter_result, make_clip
from .faults import FAST_RETRY, BlockingStore, Life, PipelineKit

NOTIFIERS = ("phone", "mqtt")
# Store calls of one alerting clip's run; the per-call families below cover each of them.
HAPPY_PATH_CALLS = 16
FULL_RUN = ["clip_recorded", "objects_detected", "analyzed", "alert", "finished"]
GRACE_S = 0.3
SETTINGS = PipelineSettings(
    retry=FAST_RETRY,
    store_retry=StoreRetrySettings(
        base_delay_s=0.002, max_delay_s=0.01, submit_deadline_s=2.0, stop_grace_s=GRACE_S
    ),
)


@dataclass
class Ledger:
    """What happened across both processes."""

    calls: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    filter_calls: int = 0
    vlm_calls: int = 0


class Gates:
    """Where the first process is held: a stage name, and an event that opens it."""

    def __init__(self, stage: str | None = None) -> None:
        self.stage = stage
        self.open = asyncio.Event()
        self.reached = asyncio.Event()

    async def at(self, stage: str) -> None:
        if stage == self.stage:
            self.reached.set()
            await self.open.wait()


class Notif(Notifier):
    def __init__(self, name: str, life: Life, ledger: Ledger, gates: Gates) -> None:
        self.name = name
        self.life, self.ledger, self.gates = life, ledger, gates

    async def send(self, alert: Alert) -> None:
        await self.life.checkpoint()
        self.ledger.calls[self.name] += 1
        await self.gates.at(f"notify:{self.name}")
        self.ledger.sent[self.name] += 1


class Filt(ObjectFilter):
    name = "scripted"

    def __init__(self, life: Life, ledger: Ledger, gates: Gates) -> None:
        self.life, self.ledger, self.gates = life, ledger, gates

    async def detect(self, clip: Clip) -> FilterResult:
        await self.life.checkpoint()
        self.ledger.filter_calls += 1
        await self.gates.at("filter")
        return filter_result("person")


class Vlm(VLMAnalyzer):
    name = "scripted-vlm"

    def __init__(self, life: Life, ledger: Ledger, gates: Gates) -> None:
        self.life, self.ledger, self.gates = life, ledger, gates

    async def analyze(self, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
        await self.life.checkpoint()
        self.ledger.vlm_calls += 1
        await self.gates.at("vlm")
        return AnalysisResult(RiskLevel.HIGH, ActivityType.SUSPICIOUS_BEHAVIOR, "Tries doors.")


class Storage(LocalStorage):
    def __init__(self, root: Path, life: Life, gates: Gates) -> None:
        super().__init__(root)
        self.life, self.gates = life, gates

    async def put_clip(self, clip: Clip) -> str:
        await self.life.checkpoint()
        await self.gates.at("upload")
        return await super().put_clip(clip)


@dataclass
class Process:
    """One Home Assistant run: its store, pipeline, listener and life."""

    store: ClipStore
    pipeline: ClipPipeline
    listener: RecordingListener
    life: Life


@dataclass
class World:
    db: Path
    storage_root: Path
    clip: Clip
    ledger: Ledger = field(default_factory=Ledger)
    processes: list[Process] = field(default_factory=list)

    def blocking_store(self) -> BlockingStore:
        """The first process's store: it stops (or dies) where the test says."""
        return BlockingStore(self.db)

    async def start(self, store: ClipStore | None = None, gates: Gates | None = None) -> Process:
        """A process; its pipeline's doubles live and die with `store.life` if it has one."""
        life = store.life if isinstance(store, BlockingStore) else Life()
        store = store or ClipStore(self.db)
        await store.open()
        gates = gates or Gates()
        listener = RecordingListener()
        kit = PipelineKit(store, Storage(self.storage_root, life, gates), listener)
        pipeline = kit.pipeline(
            Filt(life, self.ledger, gates),
            Vlm(life, self.ledger, gates),
            [Notif(name, life, self.ledger, gates) for name in NOTIFIERS],
            settings=SETTINGS,
        )
        process = Process(store, pipeline, listener, life)
        self.processes.append(process)
        return process

    async def restart_and_finish(self) -> Process:
        """A new process on the same file: resume, then the source hands the clip over again."""
        process = await self.start()
        await process.pipeline.resume_unfinished()
        await process.pipeline.submit(self.clip)
        async with asyncio.timeout(10):
            await process.pipeline.wait_idle()
        return process

    async def assert_exactly_once(self, duplicates: set[str] | None = None) -> None:
        duplicates = duplicates or set()
        store = self.processes[-1].store
        state = await store.get_state(self.clip.clip_id)
        assert state is not None
        assert state.status is ClipStatus.DONE, state.error
        assert state.notified and state.upload_done and state.alert_reported
        stages = [s for p in self.processes for c, s in p.listener.stages if c == "clip-1"]
        assert stages == FULL_RUN
        events = await store.events(self.clip.clip_id)
        sent_events = Counter(
            e.data["notifier"] for e in events if e.event_type is ClipEventType.NOTIFICATION_SENT
        )
        assert sent_events == Counter(NOTIFIERS)
        for name in NOTIFIERS:
            expected = 2 if name in duplicates else 1
            assert self.ledger.sent[name] == expected, (name, self.ledger)
        assert self.ledger.vlm_calls <= 2


@pytest.fixture
async def world(tmp_path: Path) -> AsyncGenerator[World]:
    (tmp_path / "in").mkdir()
    clip = make_clip(write_clip(tmp_path / "in" / "clip.mp4"))
    (tmp_path / "storage").mkdir()  # the set-up made it
    world = World(tmp_path / "db" / "homesec.db", tmp_path / "storage", clip)
    yield world
    for process in world.processes:
        if isinstance(process.store, BlockingStore):
            process.store.armed = False
        await process.pipeline.stop()
        await process.store.close()


async def _submit_in_background(process: Process, clip: Clip) -> asyncio.Task[bool]:
    task = asyncio.ensure_future(process.pipeline.submit(clip))
    await asyncio.sleep(0)
    return task


STAGES = ["upload", "filter", "vlm", "notify:phone", "notify:mqtt"]


# -- at every stage --------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
async def test_stop_at_every_stage_then_restart_finishes_once(world: World, stage: str) -> None:
    # Given the first process held at this stage (a notifier stays stuck past the grace time)
    gates = Gates(stage)
    first = await world.start(gates=gates)
    assert await first.pipeline.submit(world.clip)
    async with asyncio.timeout(10):
        await gates.reached.wait()

    # When Home Assistant stops, then starts again
    async with asyncio.timeout(GRACE_S + 5):
        await first.pipeline.stop()
    await first.store.close()
    await world.restart_and_finish()

    # Then the clip finished once, each notifier delivered exactly once; only the notifier
    # that was cut off mid-send (never delivered) is called again
    await world.assert_exactly_once()
    for name in NOTIFIERS:
        assert world.ledger.calls[name] == (2 if stage == f"notify:{name}" else 1), name


@pytest.mark.parametrize("name", NOTIFIERS)
async def test_stop_while_a_notifier_sends_lets_it_finish_and_record(
    world: World, name: str
) -> None:
    # Given the first process with a notifier in the middle of a slow send
    gates = Gates(f"notify:{name}")
    first = await world.start(gates=gates)
    assert await first.pipeline.submit(world.clip)
    async with asyncio.timeout(10):
        await gates.reached.wait()

    # When Home Assistant stops and the send completes within the grace time
    asyncio.get_running_loop().call_later(GRACE_S / 3, gates.open.set)
    await first.pipeline.stop()
    await world.restart_and_finish()

    # Then that notification was recorded before stopping, so the restart did not repeat it
    await world.assert_exactly_once()
    assert world.ledger.calls == Counter(NOTIFIERS)


@pytest.mark.parametrize("stage", STAGES)
async def test_kill_at_every_stage_then_restart_finishes_once(world: World, stage: str) -> None:
    # Given the first process held at this stage
    gates = Gates(stage)
    store = world.blocking_store()
    first = await world.start(store, gates)
    store.armed = True
    assert await first.pipeline.submit(world.clip)
    async with asyncio.timeout(10):
        await gates.reached.wait()
    await asyncio.sleep(0.05)  # what runs beside the held stage reaches its next step

    # When it is killed (abandoned as it is, nothing more of it runs) and a new one starts on
    # the same database file
    first.life.dead = True
    await world.restart_and_finish()

    # Then the clip finished once; a notifier with a stored notification_sent is not called
    # again, and the one that was held (never delivered) delivered once in the new process
    await world.assert_exactly_once()
    for name in NOTIFIERS:
        assert world.ledger.calls[name] == (2 if stage == f"notify:{name}" else 1), name


# -- at every store call ---------------------------------------------------------------------


async def test_the_happy_path_makes_the_store_calls_the_families_cover(world: World) -> None:
    # Given an armed store that never blocks
    store = world.blocking_store()
    process = await world.start(store)
    store.armed = True

    # When one alerting clip runs
    assert await process.pipeline.submit(world.clip)
    await process.pipeline.wait_idle()
    store.armed = False

    # Then it made exactly the store calls the parametrized families stop or kill at
    assert len(store.calls) == HAPPY_PATH_CALLS, store.calls
    assert store.calls[0] == "insert_clip"
    assert store.calls[-1] == "state:done"
    await world.assert_exactly_once()


@pytest.mark.parametrize("at", range(1, HAPPY_PATH_CALLS + 1))
async def test_kill_before_every_store_call_then_restart(world: World, at: int) -> None:
    # Given a first process that dies as its store call number `at` begins
    store = world.blocking_store()
    store.block_at = at
    first = await world.start(store)
    store.armed = True
    submit = await _submit_in_background(first, world.clip)
    async with asyncio.timeout(10):
        await store.blocked.wait()
    killed_at = store.calls[at - 1]
    recorded_before = await _sent_on_disk(world.db)
    delivered_first = {name for name in NOTIFIERS if world.ledger.sent[name] >= 1}

    # When a new process starts on the same file (and the source hands the clip over again)
    await world.restart_and_finish()
    submit.cancel()

    # Then the clip finished exactly once. A notifier is called again only when it had
    # delivered but its notification_sent was never stored (the kill fell between the two):
    # at-least-once, never a stored notification repeated
    unrecorded = delivered_first - recorded_before
    await world.assert_exactly_once(duplicates=unrecorded)
    if unrecorded:
        assert killed_at.startswith("event:notification_sent"), killed_at
    for name in recorded_before:
        assert world.ledger.calls[name] == 1, name


@pytest.mark.parametrize("at", range(1, HAPPY_PATH_CALLS + 1))
async def test_stop_during_every_store_call_then_restart(world: World, at: int) -> None:
    # Given a first process that is stopped while its store call number `at` is on its way
    store = world.blocking_store()
    first = await world.start(store)
    store.stop_at = at
    store.on_stop = first.pipeline.stop
    store.armed = True
    submit = await _submit_in_background(first, world.clip)
    async with asyncio.timeout(10):
        await store.stopped.wait()
        await submit
    store.armed = False

    # When Home Assistant starts again on the same file
    await world.restart_and_finish()

    # Then the clip finished once and every notifier delivered exactly once: what the stopped
    # process had done was recorded before it stopped
    await world.assert_exactly_once()
    assert world.ledger.calls == Counter(NOTIFIERS)


async def _sent_on_disk(db: Path) -> set[str]:
    store = ClipStore(db)
    await store.open()
    try:
        return await store.notifications_sent("clip-1")
    finally:
        await store.close()
