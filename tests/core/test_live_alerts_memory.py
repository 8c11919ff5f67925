"""Live alerts remember their events across restarts (the clip store's live_events table).

Real SQLite store (a FaultyStore for the faults) and local storage for the runner part;
scripted filter, vision model and notifiers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.alert_policy import AlertPolicySettings, DefaultAlertPolicy
from custom_components.homesec_nvr.core.interfaces import Notifier, PipelineError
from custom_components.homesec_nvr.core.live_alerts import LiveAlerts
from custom_components.homesec_nvr.core.models import (
    ActivityType,
    AlertStage,
    LiveDetection,
    RiskLevel,
)
from custom_components.homesec_nvr.core.store import ClipStore, LiveEventRecord

from .doubles import ScriptedNotifier, ScriptedVLM
from .faults import TRANSIENT_FAULTS, FaultPlan, FaultyStore
from .test_live_alerts import NOW, LiveNotifier, detection, event_clip, pipeline


@pytest.fixture
async def store(tmp_path: Path) -> AsyncGenerator[ClipStore]:
    store = ClipStore(tmp_path / "db" / "homesec.db")
    await store.open()
    yield store
    await store.close()


def restarted(
    store: ClipStore | None, notifiers: list[Notifier], **kwargs: object
) -> tuple[LiveAlerts, list[LiveDetection], DefaultAlertPolicy]:
    """Live alerts as a (re)started Home Assistant builds them on the clip store."""
    reported: list[LiveDetection] = []
    policy = DefaultAlertPolicy(AlertPolicySettings())
    live = LiveAlerts(
        policy,
        notifiers,
        lambda d, _dec: reported.append(d),
        memory=store,
        **kwargs,  # type: ignore[arg-type]
    )
    return live, reported, policy


@pytest.mark.parametrize(
    ("risk", "phone_calls", "mail_calls"),
    [
        # The clip alerts: the phone's live notification is replaced, email gets it too
        (RiskLevel.HIGH, 1, 1),
        # The clip is quiet: only the phone, which told the user live, is updated
        (RiskLevel.LOW, 1, 0),
    ],
)
async def test_after_a_restart_the_event_is_not_alerted_again_and_its_clip_follows_up(
    tmp_path: Path, store: ClipStore, risk: RiskLevel, phone_calls: int, mail_calls: int
) -> None:
    # Given a live alert of event E delivered through the phone (the tablet failed)
    phone, tablet = LiveNotifier("phone"), LiveNotifier("tablet", errors=[PipelineError("down")])
    before, _, _ = restarted(store, [phone, tablet, ScriptedNotifier("email")])
    assert await before.handle(detection(event_key="evt-E")) is not None
    assert [a.stage for a in phone.sent] == [AlertStage.DETECTED]

    # When Home Assistant restarts: new live alerts on the same store, new notifiers
    phone, tablet, mail = LiveNotifier("phone"), LiveNotifier("tablet"), ScriptedNotifier("email")
    live, reported, policy = restarted(store, [phone, tablet, mail])
    await live.async_load()
    # ... and the source reports the event again (Frigate's next `update`)
    again = await live.handle(detection(event_key="evt-E", confidence=0.95))

    # Then it is neither reported nor alerted again
    assert live.known("evt-E")
    assert again is None
    assert reported == []
    assert phone.sent == [] and tablet.sent == []
    assert live.delivered("evt-E") == frozenset({"phone"})

    # When E's clip is processed
    vlm = ScriptedVLM(risk=risk, activity=ActivityType.PERSON_AT_DOOR)
    runner = pipeline(tmp_path, store, live, policy, [phone, tablet, mail], vlm)
    assert await runner.submit(event_clip(tmp_path, "clip-E", "evt-E"))  # type: ignore[arg-type]
    await runner.wait_idle()
    await runner.stop()

    # Then the phone's notification is replaced by the clip's as a follow-up, same tag
    assert len(phone.sent) == phone_calls
    (clip_alert,) = phone.sent
    assert clip_alert.tag == "homesec_evt-E"
    assert clip_alert.stage is AlertStage.ANALYZED and clip_alert.follow_up
    assert len(mail.sent) == mail_calls
    # ... and the tablet, which never told the user, gets it only when the clip alerts
    assert len(tablet.sent) == mail_calls


async def test_a_quiet_clip_after_a_restart_never_overwrites_the_events_alerting_clip(
    tmp_path: Path, store: ClipStore
) -> None:
    # Given a live-alerted event whose first clip alerted (high risk), then a restart
    phone = LiveNotifier("phone")
    live, _, policy = restarted(store, [phone])
    await live.handle(detection(event_key="evt-F"))
    vlm = ScriptedVLM(risk=RiskLevel.HIGH, activity=ActivityType.SUSPICIOUS_BEHAVIOR)
    runner = pipeline(tmp_path, store, live, policy, [phone], vlm)
    assert await runner.submit(event_clip(tmp_path, "clip-F1", "evt-F"))  # type: ignore[arg-type]
    await runner.wait_idle()
    await runner.stop()
    assert [a.clip_id for a in phone.sent] == ["evt-F", "clip-F1"]
    phone = LiveNotifier("phone")
    live, _, policy = restarted(store, [phone])
    await live.async_load()

    # When a second clip of the event turns out low risk
    vlm.analysis = replace(vlm.analysis, risk_level=RiskLevel.LOW)
    runner = pipeline(tmp_path, store, live, policy, [phone], vlm)
    assert await runner.submit(event_clip(tmp_path, "clip-F2", "evt-F"))  # type: ignore[arg-type]
    await runner.wait_idle()
    await runner.stop()

    # Then the high-risk notification stays: nothing more was sent
    assert phone.sent == []
    assert not live.wants_update("evt-F", alerting=False)


async def test_a_clip_that_alerts_without_a_live_alert_is_remembered_for_its_event(
    tmp_path: Path, store: ClipStore
) -> None:
    # Given a clip of event G alerting through the phone, with no live detection before it
    phone = LiveNotifier("phone")
    live, _, policy = restarted(store, [phone])
    runner = pipeline(tmp_path, store, live, policy, [phone], vlm=None)
    assert await runner.submit(event_clip(tmp_path, "clip-G1", "evt-G"))  # type: ignore[arg-type]
    await runner.wait_idle()
    await runner.stop()

    # When Home Assistant restarts
    live, _, _ = restarted(store, [LiveNotifier("phone")])
    await live.async_load()

    # Then the event's next clip updates the phone's notification (stored: delivered, alerted)
    assert live.delivered("evt-G") == frozenset({"phone"})
    assert live.wants_update("evt-G", alerting=True)
    assert not live.wants_update("evt-G", alerting=False)
    (record,) = await store.load_live_events(keep=10, since=NOW - timedelta(days=365))
    assert (record.event_key, record.delivered, record.clip_alerted) == (
        "evt-G",
        frozenset({"phone"}),
        True,
    )


async def test_events_older_than_the_memory_keeps_are_forgotten_at_start(
    store: ClipStore,
) -> None:
    # Given events alerted two days ago and an hour ago
    clock = [NOW]
    live, _, _ = restarted(store, [LiveNotifier("phone")], clock=lambda: clock[0])
    await live.handle(detection(event_key="evt-old"))
    clock[0] = NOW + timedelta(days=2) - timedelta(hours=1)
    await live.handle(detection(event_key="evt-recent"))

    # When Home Assistant restarts two days after the first
    clock[0] = NOW + timedelta(days=2)
    live, _, _ = restarted(store, [LiveNotifier("phone")], clock=lambda: clock[0])
    await live.async_load()

    # Then only the recent one is remembered (a day at most)
    assert not live.known("evt-old")
    assert live.known("evt-recent")
    assert live.diagnostics()["events_remembered"] == 1


async def test_a_store_fault_while_remembering_never_stops_the_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a store whose every write fails (the database stays locked)
    plan = FaultPlan(TRANSIENT_FAULTS["locked"], at=1, count=1000, match="INSERT")
    store = FaultyStore(tmp_path / "homesec.db", plan)
    await store.open()
    plan.armed = True
    phone = LiveNotifier("phone")
    live, reported, _ = restarted(store, [phone])

    # When a person is seen live
    with caplog.at_level(logging.WARNING):
        decision = await live.handle(detection(event_key="evt-H"))

    # Then the alert went out and is known in memory; both writes failed and were logged
    assert decision is not None and decision.notify
    assert [a.stage for a in phone.sent] == [AlertStage.DETECTED]
    assert [d.event_key for d in reported] == ["evt-H"]
    assert live.delivered("evt-H") == frozenset({"phone"})
    assert plan.raised == 2
    assert live.diagnostics()["memory_failures"] == 2
    assert "Live alert of evt-H not remembered" in caplog.text
    plan.armed = False
    assert await store.load_live_events(keep=10, since=NOW - timedelta(days=365)) == []
    await store.close()


async def test_a_store_fault_at_start_leaves_live_alerts_working_without_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a remembered event and a store whose reads fail at the next start
    plan = FaultPlan(TRANSIENT_FAULTS["io_error"], at=1, count=1000, match="DELETE")
    store = FaultyStore(tmp_path / "homesec.db", plan)
    await store.open()
    await store.save_live_event(
        LiveEventRecord("evt-I", NOW, frozenset({"phone"})),
        keep=10,
        since=NOW - timedelta(days=365),
    )
    phone = LiveNotifier("phone")
    live, _, _ = restarted(store, [phone])
    plan.armed = True

    # When live alerts start and the event is reported
    with caplog.at_level(logging.WARNING):
        await live.async_load()
    plan.armed = False
    decision = await live.handle(detection(event_key="evt-I"))

    # Then the read fault is logged, and the event alerts as a new one
    assert "Live alerts' memory of earlier events not read" in caplog.text
    assert live.memory_failures == 1
    assert decision is not None and decision.notify
    assert len(phone.sent) == 1
    await store.close()


class _BrokenMemory:
    """A memory with a bug: every call raises something that is not a store error."""

    def __init__(self) -> None:
        self.calls = 0

    async def load_live_events(self, *, keep: int, since: datetime) -> list[LiveEventRecord]:
        self.calls += 1
        raise RuntimeError("bug in load")

    async def save_live_event(self, record: LiveEventRecord, *, keep: int, since: datetime) -> None:
        self.calls += 1
        raise RuntimeError("bug in save")


async def test_an_unexpected_memory_error_is_logged_with_its_traceback_and_alerts_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given live alerts on a memory that raises an unexpected error
    memory = _BrokenMemory()
    phone = LiveNotifier("phone")
    live = LiveAlerts(
        DefaultAlertPolicy(AlertPolicySettings()), [phone], lambda d, dec: None, memory=memory
    )

    # When they start and a person is seen live
    with caplog.at_level(logging.ERROR):
        await live.async_load()
        decision = await live.handle(detection(event_key="evt-J"))

    # Then the alert went out; each failure was logged with a traceback
    assert decision is not None and decision.notify
    assert len(phone.sent) == 1
    assert memory.calls == 3  # the load, and the two writes of the alert
    assert live.memory_failures == 3
    assert "bug in load" in caplog.text and "bug in save" in caplog.text
    assert "Live alert of evt-J not remembered" in caplog.text


async def test_live_alerts_without_a_memory_start_empty() -> None:
    # Given live alerts built without a memory (nothing outlives a restart)
    live, _, _ = restarted(None, [LiveNotifier("phone")])

    # When they start and an event is alerted
    await live.async_load()
    await live.handle(detection(event_key="evt-K"))

    # Then it is known in memory only
    assert live.known("evt-K")
    assert live.memory_failures == 0
