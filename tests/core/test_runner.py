"""The runner's failure rules, retries, run modes, concurrency and resume.

Real SQLite store and real local storage; scripted filter, VLM and notifiers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.alert_policy import AlertPolicySettings, DefaultAlertPolicy
from custom_components.homesec_nvr.core.interfaces import (
    Notifier,
    ObjectFilter,
    PermanentError,
    PipelineError,
    StageSkipped,
    VLMAnalyzer,
)
from custom_components.homesec_nvr.core.models import (
    ActivityType,
    ClipEventType,
    ClipStatus,
    RiskLevel,
    VLMRunMode,
)
from custom_components.homesec_nvr.core.runner import (
    CameraPipelineSettings,
    ClipPipeline,
    PipelineSettings,
    RetrySettings,
    StoreRetrySettings,
    _retry_delay,
)
from custom_components.homesec_nvr.core.storage.local import LocalStorage
from custom_components.homesec_nvr.core.store import ClipStore

from ..video import write_clip
from .doubles import (
    RecordingListener,
    ScriptedFilter,
    ScriptedNotifier,
    ScriptedVLM,
    filter_result,
    make_clip,
)
from .faults import set_up_storage

FAST_RETRY = RetrySettings(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0)
FAST_STORE_RETRY = StoreRetrySettings(base_delay_s=0.01, max_delay_s=0.05, stop_grace_s=0.2)


@dataclass
class Harness:
    """A pipeline wired to a real store and storage."""

    store: ClipStore
    storage: LocalStorage
    clip_path: Path
    listener: RecordingListener
    tmp: Path

    def pipeline(
        self,
        object_filter: ObjectFilter,
        vlm: VLMAnalyzer | None = None,
        notifiers: list[Notifier] | None = None,
        camera: CameraPipelineSettings | None = None,
        settings: PipelineSettings | None = None,
    ) -> ClipPipeline:
        camera = camera or CameraPipelineSettings()

        async def no_snapshot(_clip: object) -> bytes | None:
            return b"jpeg"

        return ClipPipeline(
            store=self.store,
            storage=self.storage,
            filters=lambda _cid: object_filter,
            vlm=vlm,
            policy=DefaultAlertPolicy(camera.alert),
            notifiers=notifiers or [],
            settings=settings or PipelineSettings(retry=FAST_RETRY, store_retry=FAST_STORE_RETRY),
            camera_settings=lambda _cid: camera,
            snapshot=no_snapshot,
            listener=self.listener,
        )

    async def kinds(self, clip_id: str = "clip-1") -> list[str]:
        return [e.event_type.value for e in await self.store.events(clip_id)]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncGenerator[Harness]:
    store = ClipStore(tmp_path / "db" / "homesec.db")
    await store.open()
    clip_path = (
        write_clip(tmp_path / "in" / "clip.mp4") if (tmp_path / "in").mkdir() is None else None
    )
    assert clip_path is not None
    yield Harness(
        store, set_up_storage(tmp_path / "storage"), clip_path, RecordingListener(), tmp_path
    )
    await store.close()


async def test_happy_path_runs_every_stage_in_order(harness: Harness) -> None:
    # Given a filter that sees a person, a VLM rating it high risk and one notifier
    notifier = ScriptedNotifier("phone")
    vlm = ScriptedVLM(risk=RiskLevel.HIGH, activity=ActivityType.SUSPICIOUS_BEHAVIOR)
    pipeline = harness.pipeline(ScriptedFilter(filter_result("person")), vlm, [notifier])

    # When a clip is submitted and processed
    assert await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the clip is done, stored, analysed and notified once
    state = await harness.store.get_state("clip-1")
    assert state is not None
    assert state.status is ClipStatus.DONE
    assert state.upload_done and state.clip_uri and state.clip_uri.startswith("file:/")
    assert state.analysis is not None and state.analysis.risk_level is RiskLevel.HIGH
    assert state.alert_decision is not None and state.alert_decision.notify
    assert len(notifier.sent) == 1
    assert notifier.sent[0].analysis == vlm.analysis
    kinds = await harness.kinds()
    assert kinds[0] == "clip_recorded"
    assert kinds.index("vlm_completed") < kinds.index("alert_decision_made")
    assert kinds.index("alert_decision_made") < kinds.index("notification_sent")
    assert [s for _, s in harness.listener.stages] == [
        "clip_recorded",
        "objects_detected",
        "analyzed",
        "alert",
        "finished",
    ]


async def test_upload_failure_never_blocks_the_alert(harness: Harness) -> None:
    # Given storage that cannot write (its root is a regular file)
    blocker = harness.tmp / "blocked"
    blocker.write_text("not a folder")
    harness.storage = LocalStorage(blocker)
    notifier = ScriptedNotifier("phone")
    pipeline = harness.pipeline(ScriptedFilter(filter_result("person")), None, [notifier])

    # When a clip is processed
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then every upload attempt failed and was recorded, yet the alert went out
    events = await harness.store.events("clip-1")
    failures = [e for e in events if e.event_type is ClipEventType.UPLOAD_FAILED]
    assert [(e.attempt, e.will_retry) for e in failures] == [(1, True), (2, True), (3, False)]
    assert all(e.error_message and "cannot store clip" in e.error_message for e in failures)
    assert len(notifier.sent) == 1
    state = await harness.store.get_state("clip-1")
    assert state is not None and state.status is ClipStatus.DONE and not state.upload_done
    assert pipeline.last_error is not None and "upload failed" in pipeline.last_error


async def test_filter_failure_ends_the_clip_in_error(harness: Harness) -> None:
    # Given a filter that can never read the clip
    vlm = ScriptedVLM()
    notifier = ScriptedNotifier("phone")
    bad = ScriptedFilter(filter_result(), errors=[PermanentError("clip is corrupt")])
    pipeline = harness.pipeline(bad, vlm, [notifier])

    # When the clip is processed
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the clip is in error, not retried (permanent), with no VLM call and no alert
    state = await harness.store.get_state("clip-1")
    assert state is not None and state.status is ClipStatus.ERROR
    assert state.error == "object filter failed"
    assert bad.calls == 1
    assert vlm.calls == 0 and notifier.calls == 0
    kinds = await harness.kinds()
    assert "filter_failed" in kinds
    assert not any(k.startswith(("vlm", "alert")) for k in kinds)
    # and the upload still completed: nothing is lost
    assert state.upload_done


async def test_transient_filter_failure_is_retried(harness: Harness) -> None:
    # Given a filter that fails once with a retryable error
    flaky = ScriptedFilter(filter_result("person"), errors=[PipelineError("busy")])
    pipeline = harness.pipeline(flaky)

    # When the clip is processed
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the second attempt succeeded and both attempts are in the history
    events = [
        e for e in await harness.store.events("clip-1") if e.event_type.value.startswith("filter")
    ]
    assert [(e.event_type.value, e.attempt) for e in events] == [
        ("filter_started", 1),
        ("filter_failed", 1),
        ("filter_started", 2),
        ("filter_completed", 2),
    ]
    assert events[1].will_retry is True and events[1].error_type == "PipelineError"
    assert events[3].duration_ms is not None


async def test_vlm_failure_falls_back_to_filter_rule(harness: Harness) -> None:
    # Given a VLM that always times out and a filter that saw a person
    vlm = ScriptedVLM(errors=[TimeoutError("slow")] * 3)
    notifier = ScriptedNotifier("phone")
    pipeline = harness.pipeline(ScriptedFilter(filter_result("person")), vlm, [notifier])

    # When the clip is processed
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the analysis failed after 3 attempts and the filter-only rule alerted
    state = await harness.store.get_state("clip-1")
    assert state is not None and state.analysis is None
    assert state.analysis_skipped_reason == "vlm_failed"
    assert vlm.calls == 3
    assert state.alert_decision is not None
    assert "trigger class(es): person" in state.alert_decision.reason
    assert len(notifier.sent) == 1


@pytest.mark.parametrize(
    ("mode", "classes", "vlm_calls", "skip_reason"),
    [
        (VLMRunMode.TRIGGER_ONLY, ("person",), 1, None),
        (VLMRunMode.TRIGGER_ONLY, ("cat",), 0, "no_trigger_class"),
        (VLMRunMode.ALWAYS, ("cat",), 1, None),
        (VLMRunMode.NEVER, ("person",), 0, "run_mode_never"),
    ],
)
async def test_vlm_run_modes(
    harness: Harness,
    mode: VLMRunMode,
    classes: tuple[str, ...],
    vlm_calls: int,
    skip_reason: str | None,
) -> None:
    # Given a camera with this run mode (trigger class: person)
    vlm = ScriptedVLM()
    camera = CameraPipelineSettings(
        vlm_run_mode=mode, alert=AlertPolicySettings(trigger_classes=frozenset({"person"}))
    )
    pipeline = harness.pipeline(ScriptedFilter(filter_result(*classes)), vlm, camera=camera)

    # When a clip with these detections is processed
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the VLM ran only when the run mode says so, and a skip says why
    state = await harness.store.get_state("clip-1")
    assert state is not None
    assert vlm.calls == vlm_calls
    assert state.analysis_skipped_reason == skip_reason
    kinds = await harness.kinds()
    assert ("vlm_skipped" in kinds) is (skip_reason is not None)


async def test_each_notifier_is_retried_on_its_own(harness: Harness) -> None:
    # Given one notifier that fails twice and one that works
    flaky = ScriptedNotifier("flaky", errors=[PipelineError("503")] * 2)
    good = ScriptedNotifier("good")
    broken = ScriptedNotifier("gone", errors=[PermanentError("no such service")])
    pipeline = harness.pipeline(
        ScriptedFilter(filter_result("person")), None, [flaky, good, broken]
    )

    # When an alerting clip is processed
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the good one sent once, the flaky one on its third try, the broken one gave up at once
    assert (good.calls, len(good.sent)) == (1, 1)
    assert (flaky.calls, len(flaky.sent)) == (3, 1)
    assert (broken.calls, len(broken.sent)) == (1, 0)
    events = await harness.store.events("clip-1")
    sent = sorted(e.data["notifier"] for e in events if e.event_type.value == "notification_sent")
    assert sent == ["flaky", "good"]
    failed = [e for e in events if e.event_type.value == "notification_failed"]
    assert {(e.data["notifier"], e.will_retry) for e in failed} == {
        ("flaky", True),
        ("gone", False),
    }


async def test_clips_in_flight_are_bounded(harness: Harness) -> None:
    # Given a pipeline allowing one clip at a time and a filter held by a gate
    gated = ScriptedFilter(filter_result())
    gated.gate = asyncio.Event()
    settings = PipelineSettings(max_clips_in_flight=1, filter_workers=4, retry=FAST_RETRY)
    pipeline = harness.pipeline(gated, settings=settings)

    # When three clips are submitted
    for index in range(3):
        await pipeline.submit(make_clip(harness.clip_path, clip_id=f"clip-{index}"))
    await asyncio.sleep(0.05)

    # Then one is in flight and two are queued, and they never overlap
    assert (pipeline.clips_in_flight, pipeline.clips_queued) == (1, 2)
    gated.gate.set()
    await pipeline.wait_idle()
    assert gated.max_running == 1
    assert (pipeline.clips_in_flight, pipeline.clips_queued) == (0, 0)
    assert harness.listener.counter_changes >= 6


async def test_duplicate_clip_is_processed_once(harness: Harness) -> None:
    # Given a clip that was already processed
    notifier = ScriptedNotifier("phone")
    pipeline = harness.pipeline(ScriptedFilter(filter_result("person")), None, [notifier])
    assert await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # When the same clip id is submitted again
    accepted = await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then it is refused and nothing runs twice
    assert accepted is False
    assert len(notifier.sent) == 1


async def test_stop_mid_pipeline_then_resume_completes_once(harness: Harness) -> None:
    # Given a clip whose notification hangs when the pipeline is stopped
    filt = ScriptedFilter(filter_result("person"))
    hanging = ScriptedNotifier("phone")
    hanging.gate = asyncio.Event()
    first = harness.pipeline(filt, ScriptedVLM(risk=RiskLevel.HIGH), [hanging])
    await first.submit(make_clip(harness.clip_path))
    async with asyncio.timeout(10):
        while hanging.calls == 0:
            await asyncio.sleep(0.01)
    await first.stop()
    state = await harness.store.get_state("clip-1")
    assert state is not None and not state.status.finished

    # When a new pipeline (after a restart) resumes unfinished clips
    vlm = ScriptedVLM()
    notifier = ScriptedNotifier("phone")
    second = harness.pipeline(filt, vlm, [notifier])
    assert await second.resume_unfinished() == 1
    await second.wait_idle()

    # Then the clip completes from where it was: no second filter or VLM run, one notification
    state = await harness.store.get_state("clip-1")
    assert state is not None and state.status is ClipStatus.DONE
    assert filt.calls == 1
    assert vlm.calls == 0
    assert len(notifier.sent) == 1
    assert "clip_resumed" in await harness.kinds()
    assert await second.resume_unfinished() == 0


async def test_source_file_is_deleted_only_once_stored(harness: Harness) -> None:
    # Given a camera that deletes source files after storing them
    camera = CameraPipelineSettings(delete_source_after_store=True)
    pipeline = harness.pipeline(ScriptedFilter(filter_result()), camera=camera)

    # When the clip is processed
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the source file is gone and the stored copy exists
    state = await harness.store.get_state("clip-1")
    assert state is not None and state.clip_uri is not None
    stored = harness.storage.local_path(state.clip_uri)
    assert stored is not None and stored.is_file()
    assert not harness.clip_path.exists()


async def test_source_file_is_kept_when_storage_failed(harness: Harness) -> None:
    # Given a camera that deletes source files, and storage that cannot write
    blocker = harness.tmp / "blocked"
    blocker.write_text("x")
    harness.storage = LocalStorage(blocker)
    camera = CameraPipelineSettings(delete_source_after_store=True)
    pipeline = harness.pipeline(ScriptedFilter(filter_result()), camera=camera)

    # When the clip is processed
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the only copy of the clip is still there
    assert harness.clip_path.is_file()


async def test_unexpected_error_marks_clip_error_without_killing_runner(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a policy that crashes (a bug)
    class Broken(DefaultAlertPolicy):
        def decide(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
            raise RuntimeError("boom")

    pipeline = harness.pipeline(ScriptedFilter(filter_result()))
    pipeline._policy = Broken(AlertPolicySettings())

    # When two clips are processed
    await pipeline.submit(make_clip(harness.clip_path, clip_id="a"))
    await pipeline.submit(make_clip(harness.clip_path, clip_id="b"))
    await pipeline.wait_idle()

    # Then both end in error with the reason, and the runner kept going
    for clip_id in ("a", "b"):
        state = await harness.store.get_state(clip_id)
        assert state is not None and state.status is ClipStatus.ERROR
        assert state.error == "internal error: boom"
    assert "Unexpected error processing clip a" in caplog.text


async def test_a_skipping_vlm_is_recorded_as_skipped_not_failed(harness: Harness) -> None:
    # Given a VLM whose daily budget is spent
    vlm = ScriptedVLM(errors=[StageSkipped("budget_exhausted", "daily VLM budget spent")])
    notifier = ScriptedNotifier("phone")
    pipeline = harness.pipeline(ScriptedFilter(filter_result("person")), vlm, [notifier])

    # When a clip is processed
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the VLM was asked once, the skip reason is recorded, and the filter rule alerted
    state = await harness.store.get_state("clip-1")
    assert state is not None
    assert vlm.calls == 1
    assert state.analysis_skipped_reason == "budget_exhausted"
    kinds = await harness.kinds()
    assert "vlm_failed" not in kinds
    skipped = [
        e for e in await harness.store.events("clip-1") if e.event_type.value == "vlm_skipped"
    ]
    assert skipped[0].data == {"reason": "budget_exhausted", "detail": "daily VLM budget spent"}
    assert len(notifier.sent) == 1


async def test_retry_after_is_respected_and_capped(harness: Harness) -> None:
    # Given a VLM that is rate limited once with Retry-After 0.3 s (backoff is 0 s here)
    vlm = ScriptedVLM(errors=[PipelineError("429", retry_after_s=0.3)])
    pipeline = harness.pipeline(ScriptedFilter(filter_result("person")), vlm)

    # When a clip is processed
    loop = asyncio.get_running_loop()
    begin = loop.time()
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()

    # Then the second attempt waited at least the asked time and succeeded
    assert loop.time() - begin >= 0.3
    assert vlm.calls == 2
    assert _retry_delay(FAST_RETRY, 1, PipelineError("x", retry_after_s=10_000)) == 120.0


async def test_failed_uploads_are_stored_once_storage_is_back(harness: Harness) -> None:
    # Given a clip processed while the storage could not be written (a full disk, say)
    blocker = harness.tmp / "nas"
    blocker.write_text("not a folder yet")
    harness.storage = LocalStorage(blocker)
    camera = CameraPipelineSettings(delete_source_after_store=True)
    pipeline = harness.pipeline(ScriptedFilter(filter_result()), camera=camera)
    await pipeline.submit(make_clip(harness.clip_path))
    await pipeline.wait_idle()
    assert await pipeline.retry_failed_uploads() == 0  # still failing: nothing stored
    assert harness.clip_path.is_file()

    # When the storage works again and the periodic job retries
    blocker.unlink()
    blocker.mkdir()
    stored = await pipeline.retry_failed_uploads()

    # Then the clip is stored, its source removed, and the history shows the late upload
    assert stored == 1
    state = await harness.store.get_state("clip-1")
    assert state is not None
    assert state.upload_done
    assert state.clip_uri is not None
    assert harness.storage.local_path(state.clip_uri).is_file()  # type: ignore[union-attr]
    assert not harness.clip_path.exists()
    assert (await harness.kinds())[-1] == "upload_completed"
    assert await pipeline.retry_failed_uploads() == 0
