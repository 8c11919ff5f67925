"""The runner with an incident across grouped cameras when things go wrong: the incident's
request fails, or its lead clip breaks after the analysis. No clip of the batch is lost.

Real SQLite store and real local storage; scripted filter and vision model.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.alert_policy import AlertPolicySettings, DefaultAlertPolicy
from custom_components.homesec_nvr.core.grouping import (
    INCIDENT_CAMERA_IDS,
    INCIDENT_CAMERAS,
    EventGrouper,
)
from custom_components.homesec_nvr.core.incident_batches import INCIDENT_LEAD, IncidentSettings
from custom_components.homesec_nvr.core.interfaces import IncidentClip, PermanentError
from custom_components.homesec_nvr.core.models import (
    EVENT_KEY,
    AlertDecision,
    AnalysisResult,
    Clip,
    ClipStatus,
    FilterResult,
    VLMRunMode,
)
from custom_components.homesec_nvr.core.runner import (
    CameraPipelineSettings,
    ClipPipeline,
    PipelineSettings,
    RetrySettings,
    StoreRetrySettings,
)
from custom_components.homesec_nvr.core.store import ClipStore

from ..video import write_clip
from .doubles import RecordingListener, ScriptedFilter, ScriptedVLM, filter_result
from .faults import set_up_storage

FAST_RETRY = RetrySettings(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0)
FAST_STORE_RETRY = StoreRetrySettings(base_delay_s=0.01, max_delay_s=0.05, stop_grace_s=0.2)
START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CAMERAS = {"drive": "Driveway", "door": "Front door"}


class IncidentVLM(ScriptedVLM):
    """A vision model that can take incidents; its incident request raises `incident_error`
    (when set), its single-clip requests answer."""

    supports_incidents = True

    def __init__(self, incident_error: Exception | None = None) -> None:
        super().__init__()
        self.incident_error = incident_error
        self.incidents: list[list[str]] = []
        self.alone: list[str] = []

    async def analyze(self, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
        self.alone.append(clip.clip_id)
        return await super().analyze(clip, filter_result)

    async def analyze_incident(self, clips: Sequence[IncidentClip]) -> AnalysisResult:
        self.incidents.append([item.clip.clip_id for item in clips])
        if self.incident_error is not None:
            raise self.incident_error
        return self.analysis


class BrokenForCamera(DefaultAlertPolicy):
    """An alert policy with a bug that shows only for one camera's clips."""

    def __init__(self, camera_id: str) -> None:
        super().__init__(CameraPipelineSettings().alert)
        self.broken = camera_id

    def decide(
        self,
        camera_id: str,
        filter_result: FilterResult | None,
        analysis: AnalysisResult | None,
        at: datetime | None = None,
    ) -> AlertDecision:
        if camera_id == self.broken:
            raise RuntimeError("the policy broke")
        return super().decide(camera_id, filter_result, analysis, at)


@dataclass
class Rig:
    store: ClipStore
    tmp: Path
    listener: RecordingListener

    def pipeline(self, vlm: IncidentVLM, policy: DefaultAlertPolicy | None = None) -> ClipPipeline:
        camera = CameraPipelineSettings(vlm_run_mode=VLMRunMode.ALWAYS)

        async def no_snapshot(_clip: object) -> bytes | None:
            return b"jpeg"

        return ClipPipeline(
            store=self.store,
            storage=set_up_storage(self.tmp / "storage"),
            filters=lambda _cid: ScriptedFilter(filter_result("person")),
            vlm=vlm,
            policy=policy or DefaultAlertPolicy(camera.alert),
            notifiers=[],
            settings=PipelineSettings(retry=FAST_RETRY, store_retry=FAST_STORE_RETRY),
            camera_settings=lambda _cid: camera,
            snapshot=no_snapshot,
            listener=self.listener,
            incidents=IncidentSettings(
                group_of=lambda camera_id: "Front" if camera_id in CAMERAS else None,
                group_cameras=lambda _group: list(CAMERAS),
                wait_s=lambda: 60.0,
            ),
        )

    def clip(self, clip_id: str, camera_id: str, offset_s: float) -> Clip:
        """A clip of the front group's incident, as the grouper labels it."""
        start = START + timedelta(seconds=offset_s)
        return Clip(
            clip_id=clip_id,
            camera_id=camera_id,
            camera_name=CAMERAS[camera_id],
            source_type="test",
            path=write_clip(self.tmp / "in" / f"{clip_id}.mp4", atomic=False),
            start_ts=start,
            end_ts=start + timedelta(seconds=2),
            metadata={
                EVENT_KEY: "incident-1",
                INCIDENT_CAMERA_IDS: ["drive"],
                INCIDENT_CAMERAS: ["Driveway"],
            },
        )

    def finished(self, clip_id: str) -> int:
        return sum(
            1 for cid, stage in self.listener.stages if (cid, stage) == (clip_id, "finished")
        )

    async def kinds(self, clip_id: str) -> list[str]:
        return [event.event_type.value for event in await self.store.events(clip_id)]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncGenerator[Rig]:
    store = ClipStore(tmp_path / "db" / "homesec.db")
    await store.open()
    (tmp_path / "in").mkdir()
    yield Rig(store, tmp_path, RecordingListener())
    await store.close()


async def run_incident(rig: Rig, pipeline: ClipPipeline) -> None:
    """The driveway's clip, then the front door's 3 s later; wait until both are done."""
    assert await pipeline.submit(rig.clip("drive-1", "drive", 0.0))
    assert await pipeline.submit(rig.clip("door-1", "door", 3.0))
    await asyncio.wait_for(pipeline.wait_idle(), 20)
    await pipeline.stop()


async def test_a_failed_incident_request_leaves_each_clip_analysed_alone(rig: Rig) -> None:
    # Given grouped cameras and a vision model whose incident request fails permanently
    vlm = IncidentVLM(incident_error=PermanentError("the model cannot take two cameras"))
    pipeline = rig.pipeline(vlm)

    # When the driveway and the front door record a clip of one incident
    await run_incident(rig, pipeline)

    # Then the incident was asked once, for both clips, and not again
    assert vlm.incidents == [["drive-1", "door-1"]]
    # and afterwards each clip was analysed alone, once
    assert sorted(vlm.alone) == ["door-1", "drive-1"]
    for clip_id in ("drive-1", "door-1"):
        state = await rig.store.get_state(clip_id)
        assert state is not None
        assert state.status is ClipStatus.DONE
        assert state.analysis is not None
        assert state.analysis.prompt_tokens == 100  # its own request, its own tokens
        assert state.analysis_skipped_reason is None
        assert INCIDENT_LEAD not in state.metadata
        assert state.alert_decision is not None
        # and each finished exactly once
        assert rig.finished(clip_id) == 1
    # and the lead's events tell the incident's failure, then its own analysis
    lead = await rig.kinds("drive-1")
    assert lead.index("vlm_failed") < lead.index("vlm_completed")
    assert lead.count("vlm_completed") == 1
    member = await rig.kinds("door-1")
    assert "vlm_failed" not in member
    assert member.count("vlm_completed") == 1
    assert pipeline.clips_queued == 0


async def test_the_member_finishes_alone_when_the_lead_breaks_deciding_the_incident(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    # Given grouped cameras, a vision model that analyses the incident, and an alert policy
    # that breaks on the driveway's (the lead's) clips
    vlm = IncidentVLM()
    pipeline = rig.pipeline(vlm, BrokenForCamera("drive"))

    # When the driveway and the front door record a clip of one incident
    await run_incident(rig, pipeline)

    # Then the incident was analysed once; its decision broke on the lead, so nothing of it
    # was stored for the front door, which was then analysed alone
    assert vlm.incidents == [["drive-1", "door-1"]]
    assert vlm.alone == ["door-1"]
    # and the lead ended in error with the reason
    lead = await rig.store.get_state("drive-1")
    assert lead is not None
    assert lead.status is ClipStatus.ERROR
    assert lead.error == "internal error: the policy broke"
    assert "Unexpected error processing clip drive-1" in caplog.text
    # and the front door's clip still finished, with its own analysis and decision
    member = await rig.store.get_state("door-1")
    assert member is not None
    assert member.status is ClipStatus.DONE
    assert member.analysis is not None
    assert member.analysis.prompt_tokens == 100  # its own request
    assert INCIDENT_LEAD not in member.metadata
    assert member.alert_decision is not None
    kinds = await rig.kinds("door-1")
    assert kinds.count("vlm_completed") == 1
    assert "alert_decision_made" in kinds
    # and each clip finished exactly once
    assert rig.finished("drive-1") == 1
    assert rig.finished("door-1") == 1


async def test_the_incident_decision_lands_in_every_clip_of_the_batch_together(
    rig: Rig,
) -> None:
    # Given grouped cameras, a vision model that analyses the incident, and a policy that
    # alerts on every clip
    vlm = IncidentVLM()
    pipeline = rig.pipeline(vlm, DefaultAlertPolicy(AlertPolicySettings(notify_on_motion=True)))

    # When the driveway and the front door record a clip of one incident
    await run_incident(rig, pipeline)

    # Then the lead alerted for the incident and the front door recorded why it did not
    lead = await rig.store.get_state("drive-1")
    member = await rig.store.get_state("door-1")
    assert lead is not None
    assert member is not None
    assert lead.alert_decision is not None
    assert lead.alert_decision.notify is True
    assert member.alert_decision == AlertDecision(
        False, "alerted once for the incident, with the clip of Driveway"
    )
    assert member.metadata[INCIDENT_LEAD] == "drive-1"
    assert member.metadata[INCIDENT_CAMERAS] == ["Driveway", "Front door"]
    assert member.analysis is not None
    assert member.analysis.prompt_tokens == 0  # the tokens are the lead's
    assert rig.finished("drive-1") == 1
    assert rig.finished("door-1") == 1


async def test_upsert_states_stores_all_of_the_batch_or_none(rig: Rig) -> None:
    # Given two stored clips
    pipeline = rig.pipeline(IncidentVLM())
    await run_incident(rig, pipeline)
    lead = await rig.store.get_state("drive-1")
    member = await rig.store.get_state("door-1")
    assert lead is not None
    assert member is not None

    # When both are saved in one call and the second cannot be written
    lead.error = "changed"
    member.metadata["broken"] = object()  # not JSON
    with pytest.raises(TypeError):
        await rig.store.upsert_states([lead, member])

    # Then neither changed
    stored = await rig.store.get_state("drive-1")
    assert stored is not None
    assert stored.error is None


def front_grouper() -> EventGrouper:
    """The hub's grouper for the front group (incident gap 30 s)."""
    return EventGrouper(
        lambda _camera_id: 0.0,
        group_of=lambda camera_id: "Front" if camera_id in CAMERAS else None,
        gap_s=lambda: 30.0,
    )


async def test_a_clip_waiting_over_a_restart_is_analysed_with_the_group_s_next_clip(
    rig: Rig,
) -> None:
    # Given the driveway's clip of an incident, waiting for the front door when the pipeline
    # stops (a restart)
    first = rig.pipeline(IncidentVLM())
    drive = dataclasses.replace(rig.clip("drive-1", "drive", 0.0), metadata={})
    front_grouper().assign(drive)
    assert await first.submit(drive)
    for _ in range(200):
        if first.clips_waiting_for_incident == 1:
            break
        await asyncio.sleep(0.01)
    assert first.clips_waiting_for_incident == 1
    await first.stop()

    # When the next start resumes it with a new grouper, and the front door's clip of the same
    # incident comes 3 s later
    vlm = IncidentVLM()
    second = rig.pipeline(vlm)
    grouper = front_grouper()
    assert await second.resume_unfinished(grouper.restore) == 1
    door = dataclasses.replace(rig.clip("door-1", "door", 3.0), metadata={})
    key = grouper.assign(door)

    # Then the front door's clip joined the driveway's incident, with both cameras
    assert key == "drive-1"
    assert door.metadata[INCIDENT_CAMERAS] == ["Driveway", "Front door"]
    assert await second.submit(door)
    await asyncio.wait_for(second.wait_idle(), 20)
    await second.stop()
    # and the incident was analysed once, for both clips, and no clip alone
    assert vlm.incidents == [["drive-1", "door-1"]]
    assert vlm.alone == []
    member = await rig.store.get_state("door-1")
    assert member is not None
    assert member.metadata[INCIDENT_LEAD] == "drive-1"
    assert rig.finished("drive-1") == 1
    assert rig.finished("door-1") == 1


def test_restore_keeps_the_group_s_later_incident_and_ignores_clips_of_no_group(
    tmp_path: Path,
) -> None:
    # Given a grouper that restored a resumed clip of a later incident (its cameras from its
    # metadata) and a resumed clip of the same incident without camera metadata
    rig = Rig(store=None, tmp=tmp_path, listener=RecordingListener())  # type: ignore[arg-type]
    (tmp_path / "in").mkdir()
    grouper = front_grouper()
    later = rig.clip("drive-2", "drive", 600.0)
    later.metadata[EVENT_KEY] = "incident-2"
    grouper.restore(later)
    same = dataclasses.replace(
        rig.clip("door-2", "door", 605.0), metadata={EVENT_KEY: "incident-2"}
    )
    grouper.restore(same)

    # When resumed clips of an earlier incident, of a camera in no group, and one with no
    # event are restored too
    grouper.restore(rig.clip("drive-1", "drive", 0.0))  # incident-1
    alone = dataclasses.replace(rig.clip("yard-1", "drive", 0.0), camera_id="yard")
    grouper.restore(alone)
    grouper.restore(dataclasses.replace(rig.clip("drive-3", "drive", 600.0), metadata={}))

    # Then a clip of the group right after the later incident joins it, with its cameras
    follower = dataclasses.replace(rig.clip("door-3", "door", 620.0), metadata={})
    assert grouper.assign(follower) == "incident-2"
    assert follower.metadata[INCIDENT_CAMERAS] == ["Driveway", "Front door"]
    # and the camera in no group keeps its own events
    yard = dataclasses.replace(rig.clip("yard-2", "drive", 5.0), camera_id="yard", metadata={})
    assert grouper.assign(yard) is None
