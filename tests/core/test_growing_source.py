"""A clip file that grows after it looked stable is never deleted before it is stored complete.

The source is a real H.264 clip written in two parts: the first part is there when the clip is
handed over (the upload stalled longer than the stable time), the rest arrives at one point of
the pipeline: during the copy into storage, the filter, the vision model, the notification,
as the clip finishes, or during the catch-up job's copy. Real store, real files.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.interfaces import Notifier
from custom_components.homesec_nvr.core.models import (
    ActivityType,
    Alert,
    AnalysisResult,
    Clip,
    ClipEventType,
    ClipState,
    ClipStatus,
    FilterResult,
    RiskLevel,
)
from custom_components.homesec_nvr.core.runner import (
    CameraPipelineSettings,
    ClipPipeline,
    fingerprint_file,
)
from custom_components.homesec_nvr.core.storage.local import LocalStorage
from custom_components.homesec_nvr.core.store import ClipStore

from ..video import write_clip
from .doubles import RecordingListener, ScriptedFilter, ScriptedVLM, filter_result, make_clip
from .faults import PipelineKit

AFTER_STORE_POINTS = ["filter", "vlm", "notify", "finished"]


@dataclass
class Upload:
    """A camera upload that stalled: part of the file now, the rest at `point`."""

    path: Path
    full: bytes
    point: str
    cut: int
    arrivals: int = 1  # how many times more data arrives at the point
    arrived: int = 0

    @property
    def complete(self) -> bool:
        return self.path.read_bytes() == self.full

    def at(self, point: str) -> None:
        if point != self.point or self.arrived >= self.arrivals:
            return
        self.arrived += 1
        remaining = self.full[self.cut :]
        share = len(remaining) * self.arrived // self.arrivals
        done = len(remaining) * (self.arrived - 1) // self.arrivals
        with self.path.open("ab") as handle:
            handle.write(remaining[done:share])


class GrowingStorage(LocalStorage):
    """Local storage; the upload goes on while a clip is being copied."""

    def __init__(self, root: Path, on_copy: Callable[[], None]) -> None:
        super().__init__(root)
        self.on_copy = on_copy

    def _copy_file(self, source: Path, tmp: Path) -> None:
        super()._copy_file(source, tmp)
        self.on_copy()


class HookFilter(ScriptedFilter):
    """Its part of the upload arrives once the partial file is stored and recorded (the
    upload runs beside the filter)."""

    def __init__(self, hook: Callable[[str], None], store: ClipStore) -> None:
        super().__init__(filter_result("person"))
        self.hook = hook
        self.store = store

    async def detect(self, clip: Clip) -> FilterResult:
        async with asyncio.timeout(10):
            while not any(
                e.event_type is ClipEventType.UPLOAD_COMPLETED
                for e in await self.store.events(clip.clip_id)
            ):
                await asyncio.sleep(0.005)
        self.hook("filter")
        return await super().detect(clip)


class HookVLM(ScriptedVLM):
    def __init__(self, hook: Callable[[str], None]) -> None:
        super().__init__(risk=RiskLevel.HIGH, activity=ActivityType.SUSPICIOUS_BEHAVIOR)
        self.hook = hook

    async def analyze(self, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
        self.hook("vlm")
        return await super().analyze(clip, filter_result)


class HookNotifier(Notifier):
    name = "phone"

    def __init__(self, hook: Callable[[str], None]) -> None:
        self.hook = hook
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.hook("notify")
        self.sent.append(alert)


@dataclass
class HookListener(RecordingListener):
    hook: Callable[[str], None] = field(default=lambda _point: None)

    def clip_updated(self, state: ClipState, stage: str) -> None:
        super().clip_updated(state, stage)
        if stage == "finished":
            self.hook("finished")


@dataclass
class Rig:
    store: ClipStore
    storage: GrowingStorage
    upload: Upload
    notifier: HookNotifier
    pipeline: ClipPipeline

    async def state(self) -> ClipState:
        state = await self.store.get_state("clip-1")
        assert state is not None
        return state

    async def stored_bytes(self) -> bytes:
        state = await self.state()
        assert state.clip_uri is not None
        path = self.storage.local_path(state.clip_uri)
        assert path is not None
        return path.read_bytes()

    async def source_changed_events(self) -> list[str]:
        return [
            e.error_message or ""
            for e in await self.store.events("clip-1")
            if e.event_type is ClipEventType.UPLOAD_FAILED and e.error_type == "SourceChangedError"
        ]


async def _rig(tmp_path: Path, point: str, *, delete: bool = True, arrivals: int = 1) -> Rig:
    full = write_clip(tmp_path / "full.mp4").read_bytes()
    (tmp_path / "in").mkdir()
    source = tmp_path / "in" / "clip.mp4"
    cut = len(full) * 55 // 100
    source.write_bytes(full[:cut])
    upload = Upload(source, full, point, cut, arrivals)
    store = ClipStore(tmp_path / "homesec.db")
    await store.open()
    storage = GrowingStorage(tmp_path / "storage", lambda: upload.at("copy"))
    storage.ensure_root()
    listener = HookListener(hook=upload.at)
    notifier = HookNotifier(upload.at)
    pipeline = PipelineKit(store, storage, listener).pipeline(
        HookFilter(upload.at, store),
        HookVLM(upload.at),
        [notifier],
        CameraPipelineSettings(delete_source_after_store=delete),
    )
    return Rig(store, storage, upload, notifier, pipeline)


@pytest.fixture
async def rigs() -> AsyncGenerator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        await rig.pipeline.stop()
        await rig.store.close()


def _exists(path: Path) -> bool:
    return path.exists()


async def test_a_file_that_grows_during_the_copy_is_copied_again_then_deleted(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    # Given an upload whose rest arrives while the clip is copied into storage
    rig = await _rig(tmp_path, "copy")
    rigs.append(rig)

    # When the clip is processed
    assert await rig.pipeline.submit(make_clip(rig.upload.path))
    await rig.pipeline.wait_idle()

    # Then the torn copy was noticed and copied again, complete, before the source was removed
    assert rig.upload.arrived == 1
    assert await rig.stored_bytes() == rig.upload.full
    assert not _exists(rig.upload.path)
    changed = await rig.source_changed_events()
    assert len(changed) == 1 and "changed while it was stored" in changed[0]
    assert len(rig.notifier.sent) == 1


@pytest.mark.parametrize("point", AFTER_STORE_POINTS)
async def test_a_file_that_grows_after_it_was_stored_is_kept_then_stored_complete(
    tmp_path: Path, rigs: list[Rig], point: str
) -> None:
    # Given an upload whose rest arrives after the partial file was stored, at this point
    rig = await _rig(tmp_path, point)
    rigs.append(rig)

    # When the clip is processed
    assert await rig.pipeline.submit(make_clip(rig.upload.path))
    await rig.pipeline.wait_idle()

    # Then its source, now complete, was not deleted; the clip is done, alerted once, and
    # marked as not stored (its stored copy is the partial one)
    assert rig.upload.arrived == 1
    assert _exists(rig.upload.path) and rig.upload.complete
    state = await rig.state()
    assert state.status is ClipStatus.DONE and not state.upload_done
    assert await rig.stored_bytes() == rig.upload.full[: rig.upload.cut]
    assert len(await rig.source_changed_events()) == 1
    assert len(rig.notifier.sent) == 1

    # When the catch-up job runs
    stored = await rig.pipeline.retry_failed_uploads()

    # Then the complete file is stored and only then the source removed; no second alert
    assert stored == 1
    assert await rig.stored_bytes() == rig.upload.full
    assert not _exists(rig.upload.path)
    state = await rig.state()
    assert state.upload_done and state.stored_source is not None
    assert state.stored_source.size == len(rig.upload.full)
    assert len(rig.notifier.sent) == 1
    assert await rig.pipeline.retry_failed_uploads() == 0


async def test_a_file_that_grows_again_during_the_catch_up_copy_is_copied_again(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    # Given a clip whose source grew after it was stored, and grows once more while the
    # catch-up job copies it
    rig = await _rig(tmp_path, "notify", arrivals=2)
    rigs.append(rig)
    assert await rig.pipeline.submit(make_clip(rig.upload.path))
    await rig.pipeline.wait_idle()
    assert rig.upload.arrived == 1 and not rig.upload.complete
    rig.upload.point = "copy"

    # When the catch-up job runs
    stored = await rig.pipeline.retry_failed_uploads()

    # Then the torn copy was copied again; the complete file is stored, the source removed
    assert rig.upload.arrived == 2
    assert stored == 1
    assert await rig.stored_bytes() == rig.upload.full
    assert not _exists(rig.upload.path)


async def test_a_file_still_growing_at_every_catch_up_is_never_deleted(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    # Given a clip whose source grew after it was stored and keeps growing during every copy
    rig = await _rig(tmp_path, "notify", arrivals=100)
    rigs.append(rig)
    assert await rig.pipeline.submit(make_clip(rig.upload.path))
    await rig.pipeline.wait_idle()
    rig.upload.point = "copy"

    # When the catch-up job runs twice while it is still being written
    first = await rig.pipeline.retry_failed_uploads()
    second = await rig.pipeline.retry_failed_uploads()

    # Then nothing counts as stored and the source is always kept
    assert (first, second) == (0, 0)
    assert _exists(rig.upload.path)
    assert not (await rig.state()).upload_done

    # When the upload ends, Then the next catch-up stores it complete and removes the source
    rig.upload.point = "nowhere"
    with rig.upload.path.open("ab") as handle:
        handle.write(rig.upload.full[len(rig.upload.path.read_bytes()) :])
    assert rig.upload.complete
    assert await rig.pipeline.retry_failed_uploads() == 1
    assert await rig.stored_bytes() == rig.upload.full
    assert not _exists(rig.upload.path)


async def test_without_deleting_sources_the_stored_copy_still_ends_complete(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    # Given a camera that keeps its sources, and an upload finishing after the clip was stored
    rig = await _rig(tmp_path, "vlm", delete=False)
    rigs.append(rig)

    # When the clip is processed and the catch-up job runs
    assert await rig.pipeline.submit(make_clip(rig.upload.path))
    await rig.pipeline.wait_idle()
    assert not (await rig.state()).upload_done
    stored = await rig.pipeline.retry_failed_uploads()

    # Then the stored copy is the complete file and the source stays
    assert stored == 1
    assert await rig.stored_bytes() == rig.upload.full
    assert _exists(rig.upload.path)


async def test_a_same_size_rewrite_with_the_old_mtime_is_seen_by_the_fingerprint(
    tmp_path: Path,
) -> None:
    # Given a file's fingerprint, then the file rewritten in place (same size) and its
    # modification time put back (a coarse-clock share, or a tool preserving times)
    path = write_clip(tmp_path / "clip.mp4")
    before = fingerprint_file(path)
    assert before is not None
    data = bytearray(path.read_bytes())
    data[:16] = bytes(16)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.mtime_ns, before.mtime_ns))

    # When it is fingerprinted again
    after = fingerprint_file(path)

    # Then size and time match but the fingerprint differs; a missing file has none
    assert after is not None
    assert (after.size, after.mtime_ns) == (before.size, before.mtime_ns)
    assert after != before
    assert fingerprint_file(tmp_path / "gone.mp4") is None
