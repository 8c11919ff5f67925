"""The runner's clip workers survive bugs: a dead worker is reported and restarted with backoff.

An exception is injected into a worker through the store it calls (a store whose writes raise
a plain RuntimeError, as a bug in that layer would: not a StoreError, so nothing handles it
on the way) and through a listener that raises; later clips are still processed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from custom_components.homesec_nvr.core.models import Clip, ClipState, ClipStatus, FilterResult
from custom_components.homesec_nvr.core.runner import (
    MAX_WORKER_CRASHES_PER_CLIP,
    Backoff,
    ClipPipeline,
    PipelineSettings,
)
from custom_components.homesec_nvr.core.store import ClipStore

from ..video import write_clip
from .doubles import (
    RecordingListener,
    ScriptedFilter,
    ScriptedNotifier,
    filter_result,
    make_clip,
)
from .faults import FAST_RETRY, FAST_STORE_RETRY, PipelineKit, set_up_storage

RESTART = Backoff(base_delay_s=0.05, max_delay_s=0.2)


class BuggyStore(ClipStore):
    """A real store whose state writes of the `broken` clips raise RuntimeError (a bug)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.broken: set[str] = set()
        self.raised: list[str] = []

    async def upsert_state(self, state: ClipState) -> None:
        if state.clip_id in self.broken:
            self.raised.append(state.clip_id)
            raise RuntimeError(f"bug writing {state.clip_id}")
        await super().upsert_state(state)


class GatedFor(ScriptedFilter):
    """A filter that holds only the named clips until its gate opens."""

    def __init__(self, clip_ids: set[str], result: FilterResult) -> None:
        super().__init__(result)
        self.clip_ids = clip_ids
        self.opened = asyncio.Event()

    async def detect(self, clip: Clip) -> FilterResult:
        if clip.clip_id in self.clip_ids:
            await self.opened.wait()
        return await super().detect(clip)


class HealingListener(RecordingListener):
    """Mends the store once a worker has died (the pipeline reports it through its counters)."""

    def __init__(self, store: BuggyStore) -> None:
        super().__init__()
        self.store = store
        self.pipeline: ClipPipeline | None = None

    def counters_changed(self) -> None:
        super().counters_changed()
        if self.pipeline is not None and self.pipeline.worker_restarts:
            self.store.broken.clear()


class RaisingListener(RecordingListener):
    """A listener (the glue) with a bug in every callback."""

    def clip_updated(self, state: ClipState, stage: str) -> None:
        super().clip_updated(state, stage)
        raise ValueError(f"listener bug at {stage}")

    def counters_changed(self) -> None:
        super().counters_changed()
        raise ValueError("listener bug in counters")


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncGenerator[tuple[PipelineKit, BuggyStore, Path]]:
    store = BuggyStore(tmp_path / "homesec.db")
    await store.open()
    (tmp_path / "in").mkdir()
    clip_path = write_clip(tmp_path / "in" / "clip.mp4")
    pkit = PipelineKit(store, set_up_storage(tmp_path / "storage"))
    yield pkit, store, clip_path
    await pkit.stop_all()
    await store.close()


def _settings(**kwargs: Any) -> PipelineSettings:
    return PipelineSettings(
        retry=FAST_RETRY, store_retry=FAST_STORE_RETRY, worker_restart=RESTART, **kwargs
    )


async def _status(store: ClipStore, clip_id: str) -> ClipStatus | None:
    state = await store.get_state(clip_id)
    return None if state is None else state.status


async def test_a_worker_killed_once_is_restarted_and_its_clip_completes(
    kit: tuple[PipelineKit, BuggyStore, Path], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a store whose writes of clip "a" raise a bug until a worker has died (the write
    # in the runner's own error handling fails too, so the exception kills the worker)
    pkit, store, clip_path = kit
    store.broken.add("a")
    listener = HealingListener(store)
    notifier = ScriptedNotifier("phone")
    pipeline = pkit.pipeline(
        ScriptedFilter(filter_result("person")),
        None,
        [notifier],
        settings=_settings(),
        listener=listener,
    )
    listener.pipeline = pipeline

    # When clip "a" is processed
    assert await pipeline.submit(make_clip(clip_path, clip_id="a"))
    async with asyncio.timeout(10):
        await pipeline.wait_idle()

    # Then the worker died once, was reported and restarted, and the clip completed once
    assert len(store.raised) >= 2
    assert pipeline.worker_restarts == 1
    assert pipeline.last_worker_failure is not None
    assert "clip a" in pipeline.last_worker_failure
    assert "RuntimeError: bug writing a" in pipeline.last_worker_failure
    assert pipeline.last_worker_failure_at is not None
    assert await _status(store, "a") is ClipStatus.DONE
    assert len(notifier.sent) == 1
    assert "clip worker 0 died on Front door clip a" in caplog.text
    assert "restart 1 in" in caplog.text


async def test_a_clip_that_keeps_killing_workers_is_left_and_later_clips_are_processed(
    kit: tuple[PipelineKit, BuggyStore, Path],
) -> None:
    # Given one worker, and clip "bad" whose every write raises a bug
    pkit, store, clip_path = kit
    store.broken.add("bad")
    notifier = ScriptedNotifier("phone")
    pipeline = pkit.pipeline(
        ScriptedFilter(filter_result("person")),
        None,
        [notifier],
        settings=_settings(max_clips_in_flight=1),
    )
    loop = asyncio.get_running_loop()
    begin = loop.time()

    # When "bad" is submitted between two good clips, and one more good clip comes later
    for clip_id in ("good-1", "bad", "good-2"):
        assert await pipeline.submit(make_clip(clip_path, clip_id=clip_id))
    async with asyncio.timeout(10):
        await pipeline.wait_idle()
    assert await pipeline.submit(make_clip(clip_path, clip_id="good-3"))
    async with asyncio.timeout(10):
        await pipeline.wait_idle()

    # Then every good clip is done, and "bad" killed its worker the allowed number of times,
    # each restart after a growing backoff, and stays unfinished (resumed at the next start)
    for clip_id in ("good-1", "good-2", "good-3"):
        assert await _status(store, clip_id) is ClipStatus.DONE
    assert len(notifier.sent) == 3
    assert pipeline.worker_restarts == MAX_WORKER_CRASHES_PER_CLIP
    assert loop.time() - begin >= RESTART.base_delay_s * (1 + 2)
    bad = await _status(store, "bad")
    assert bad is not None and not bad.finished
    assert (pipeline.clips_in_flight, pipeline.clips_queued) == (0, 0)


async def test_two_workers_one_dies_the_other_keeps_going(
    kit: tuple[PipelineKit, BuggyStore, Path],
) -> None:
    # Given two workers, a slow good clip and a clip that kills its worker once
    pkit, store, clip_path = kit
    store.broken.add("crash")
    listener = HealingListener(store)
    gated = GatedFor({"slow"}, filter_result("person"))
    pipeline = pkit.pipeline(
        gated,
        None,
        [ScriptedNotifier("phone")],
        settings=_settings(filter_workers=2),
        listener=listener,
    )
    listener.pipeline = pipeline

    # When both are submitted while the filter holds the first one
    assert await pipeline.submit(make_clip(clip_path, clip_id="slow"))
    assert await pipeline.submit(make_clip(clip_path, clip_id="crash"))
    async with asyncio.timeout(10):
        while pipeline.worker_restarts == 0:
            await asyncio.sleep(0.005)
        gated.opened.set()
        await pipeline.wait_idle()

    # Then both clips complete and only one worker restart was needed
    assert pipeline.worker_restarts == 1
    assert await _status(store, "slow") is ClipStatus.DONE
    assert await _status(store, "crash") is ClipStatus.DONE


async def test_a_failing_listener_never_stops_a_clip(
    kit: tuple[PipelineKit, BuggyStore, Path], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a listener whose every callback raises
    pkit, store, clip_path = kit
    listener = RaisingListener()
    notifier = ScriptedNotifier("phone")
    pipeline = pkit.pipeline(
        ScriptedFilter(filter_result("person")),
        None,
        [notifier],
        settings=_settings(),
        listener=listener,
    )

    # When two clips are processed
    for clip_id in ("a", "b"):
        assert await pipeline.submit(make_clip(clip_path, clip_id=clip_id))
    async with asyncio.timeout(10):
        await pipeline.wait_idle()

    # Then both completed and alerted, every stage was still reported, and no worker died
    for clip_id in ("a", "b"):
        assert await _status(store, clip_id) is ClipStatus.DONE
        assert [s for c, s in listener.stages if c == clip_id] == [
            "clip_recorded",
            "objects_detected",
            "alert",
            "finished",
        ]
    assert len(notifier.sent) == 2
    assert pipeline.worker_restarts == 0
    assert "Pipeline listener failed on finished of clip a" in caplog.text


async def test_stop_cancels_a_worker_waiting_to_restart(
    kit: tuple[PipelineKit, BuggyStore, Path],
) -> None:
    # Given a worker that died and waits a long backoff before restarting
    pkit, store, clip_path = kit
    store.broken.add("a")
    settings = PipelineSettings(
        retry=FAST_RETRY,
        store_retry=FAST_STORE_RETRY,
        worker_restart=Backoff(base_delay_s=60.0, max_delay_s=60.0),
    )
    pipeline = pkit.pipeline(ScriptedFilter(filter_result()), settings=settings)
    assert await pipeline.submit(make_clip(clip_path, clip_id="a"))
    async with asyncio.timeout(10):
        while pipeline.worker_restarts == 0:
            await asyncio.sleep(0.005)

    # When the pipeline stops
    async with asyncio.timeout(5):
        await pipeline.stop()

    # Then it stopped at once, nothing is queued, and the clip stays resumable
    assert (pipeline.clips_in_flight, pipeline.clips_queued) == (0, 0)
    assert await pipeline.submit(make_clip(clip_path, clip_id="later")) is False
