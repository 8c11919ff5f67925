"""Live alerts: an event's first trigger object alerts at once, its clip updates that alert.

Real SQLite store and local storage for the runner part; scripted filter and notifiers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.alert_policy import AlertPolicySettings, DefaultAlertPolicy
from custom_components.homesec_nvr.core.interfaces import Notifier, PipelineError
from custom_components.homesec_nvr.core.live_alerts import LiveAlerts
from custom_components.homesec_nvr.core.models import (
    EVENT_KEY,
    ActivityType,
    Alert,
    AlertDecision,
    AlertStage,
    LiveDetection,
    RiskLevel,
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
from .doubles import (
    RecordingListener,
    ScriptedFilter,
    ScriptedNotifier,
    ScriptedVLM,
    filter_result,
    make_clip,
)
from .faults import set_up_storage

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class LiveNotifier(ScriptedNotifier):
    """A notifier that can update what it sent (like a phone notification's tag)."""

    supports_live = True


def detection(
    event_key: str = "cam-evt-1", label: str = "person", **changes: object
) -> LiveDetection:
    base = LiveDetection(
        event_key=event_key,
        camera_id="cam",
        camera_name="Front door",
        source_type="rtsp",
        label=label,
        confidence=0.9,
        detected_at=NOW,
        snapshot_jpeg=b"\xff\xd8jpeg",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def live_alerts(
    notifiers: list[Notifier], settings: AlertPolicySettings | None = None
) -> tuple[LiveAlerts, list[tuple[LiveDetection, AlertDecision]], DefaultAlertPolicy]:
    reported: list[tuple[LiveDetection, AlertDecision]] = []
    policy = DefaultAlertPolicy(settings or AlertPolicySettings())
    alerts = LiveAlerts(policy, notifiers, lambda d, dec: reported.append((d, dec)))
    return alerts, reported, policy


async def test_an_events_first_trigger_object_alerts_once_through_live_notifiers() -> None:
    # Given live alerts with one notifier that can update its message and one that cannot
    phone, mail = LiveNotifier("phone"), ScriptedNotifier("email")
    alerts, reported, _ = live_alerts([phone, mail])

    # When a person is seen twice during the same event
    first = await alerts.handle(detection())
    second = await alerts.handle(detection(confidence=0.99))

    # Then the first sighting is reported and alerted, the second changes nothing
    assert first is not None and first.notify
    assert second is None
    assert [d.event_key for d, _ in reported] == ["cam-evt-1"]
    assert [a.stage for a in phone.sent] == [AlertStage.DETECTED]
    sent = phone.sent[0]
    assert sent.tag == "homesec_cam-evt-1"
    assert sent.detected_classes == ("person",)
    assert sent.analysis is None and not sent.follow_up
    # And email, which cannot take a message back, waits for the clip
    assert mail.sent == []
    assert alerts.delivered("cam-evt-1") == frozenset({"phone"})


@pytest.mark.parametrize(
    ("settings", "label", "snoozed", "reason_part"),
    [
        (AlertPolicySettings(), "car", False, "not a trigger class"),
        (AlertPolicySettings(live_alerts=False), "person", False, "live alerts are off"),
        (AlertPolicySettings(), "person", True, "snoozed"),
    ],
)
async def test_a_live_detection_the_policy_holds_back_is_reported_not_sent(
    settings: AlertPolicySettings, label: str, snoozed: bool, reason_part: str
) -> None:
    # Given live alerts under these settings (and a snooze, for one case)
    phone = LiveNotifier("phone")
    alerts, reported, policy = live_alerts([phone], settings)
    if snoozed:
        policy.snooze("cam", datetime.now(UTC) + timedelta(hours=1))

    # When the object is seen live
    decision = await alerts.handle(detection(label=label))

    # Then it is reported with the reason, and nothing is sent
    assert decision is not None and not decision.notify
    assert reason_part in decision.reason
    assert len(reported) == 1
    assert phone.sent == []
    assert alerts.delivered("cam-evt-1") == frozenset()


async def test_a_failing_live_notifier_is_counted_and_the_clip_alert_is_not_a_follow_up() -> None:
    # Given a phone notifier that fails, and one that hangs past the deadline
    failing = LiveNotifier("phone", errors=[PipelineError("push service down")])
    hanging = LiveNotifier("tablet")
    hanging.gate = asyncio.Event()
    reported: list[tuple[LiveDetection, AlertDecision]] = []
    alerts = LiveAlerts(
        DefaultAlertPolicy(AlertPolicySettings()),
        [failing, hanging],
        lambda d, dec: reported.append((d, dec)),
        send_timeout_s=0.05,
    )

    # When a person is seen live
    decision = await alerts.handle(detection())

    # Then both failures are counted and no notifier counts as having told the user
    assert decision is not None and decision.notify
    assert alerts.failures == 2
    assert alerts.delivered("cam-evt-1") == frozenset()
    assert alerts.diagnostics()["alerts"] == 1


async def test_only_the_most_recent_events_are_remembered() -> None:
    # Given live alerts remembering two events
    phone = LiveNotifier("phone")
    alerts = LiveAlerts(
        DefaultAlertPolicy(AlertPolicySettings()), [phone], lambda d, dec: None, max_events=2
    )

    # When three events are seen
    for key in ("e1", "e2", "e3"):
        await alerts.handle(detection(event_key=key))

    # Then the oldest is forgotten (its clip's alert is an ordinary one)
    assert not alerts.known("e1")
    assert alerts.known("e2") and alerts.known("e3")
    assert alerts.delivered("e1") == frozenset()


# --- the runner: the clip of a live-alerted event updates its notification ------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncGenerator[ClipStore]:
    store = ClipStore(tmp_path / "db" / "homesec.db")
    await store.open()
    yield store
    await store.close()


def pipeline(
    tmp_path: Path,
    store: ClipStore,
    live: LiveAlerts,
    policy: DefaultAlertPolicy,
    notifiers: list[Notifier],
    vlm: ScriptedVLM | None,
    classes: tuple[str, ...] = ("person",),
) -> ClipPipeline:
    async def no_snapshot(_clip: object) -> bytes | None:
        return b"jpeg"

    return ClipPipeline(
        store=store,
        storage=set_up_storage(tmp_path / "storage"),
        filters=lambda _cid: ScriptedFilter(filter_result(*classes)),
        vlm=vlm,
        policy=policy,
        notifiers=notifiers,
        settings=PipelineSettings(
            retry=RetrySettings(max_attempts=2, base_delay_s=0.0, max_delay_s=0.0),
            store_retry=StoreRetrySettings(base_delay_s=0.01, max_delay_s=0.05, stop_grace_s=0.2),
        ),
        camera_settings=lambda _cid: CameraPipelineSettings(),
        snapshot=no_snapshot,
        listener=RecordingListener(),
        live=live,
    )


def event_clip(tmp_path: Path, clip_id: str, event_key: str | None) -> object:
    (tmp_path / "in").mkdir(exist_ok=True)
    path = write_clip(tmp_path / "in" / f"{clip_id}.mp4")
    clip = make_clip(path, clip_id)
    metadata = {EVENT_KEY: event_key} if event_key else {}
    return replace(clip, metadata=metadata)


@pytest.mark.parametrize(
    ("risk", "phone_calls", "mail_calls"),
    [
        # The analysis alerts: the phone's live notification is replaced, email gets it too
        (RiskLevel.HIGH, 2, 1),
        # The analysis does not alert: the phone's notification is still updated (quietly,
        # so the user learns what it was); email, which had nothing, gets nothing
        (RiskLevel.LOW, 2, 0),
    ],
)
async def test_the_clip_of_a_live_alerted_event_updates_the_same_notification(
    tmp_path: Path, store: ClipStore, risk: RiskLevel, phone_calls: int, mail_calls: int
) -> None:
    # Given a live alert delivered to the phone for event E
    phone, mail = LiveNotifier("phone"), ScriptedNotifier("email")
    policy = DefaultAlertPolicy(AlertPolicySettings())
    live = LiveAlerts(policy, [phone, mail], lambda d, dec: None)
    await live.handle(detection(event_key="evt-E"))
    vlm = ScriptedVLM(risk=risk, activity=ActivityType.PERSON_AT_DOOR)
    runner = pipeline(tmp_path, store, live, policy, [phone, mail], vlm)

    # When E's clip is processed
    assert await runner.submit(event_clip(tmp_path, "clip-E", "evt-E"))  # type: ignore[arg-type]
    await runner.wait_idle()

    # Then the phone got the clip's alert as a follow-up with the same tag
    assert len(phone.sent) == phone_calls
    live_alert, clip_alert = phone.sent
    assert live_alert.tag == clip_alert.tag == "homesec_evt-E"
    assert clip_alert.stage is AlertStage.ANALYZED and clip_alert.follow_up
    assert clip_alert.analysis is not None and clip_alert.analysis.risk_level is risk
    assert len(mail.sent) == mail_calls
    await runner.stop()


async def test_a_quiet_clip_never_overwrites_an_alerting_clip_of_the_same_event(
    tmp_path: Path, store: ClipStore
) -> None:
    # Given a live-alerted event whose first clip alerts (high risk)
    phone = LiveNotifier("phone")
    policy = DefaultAlertPolicy(AlertPolicySettings())
    live = LiveAlerts(policy, [phone], lambda d, dec: None)
    await live.handle(detection(event_key="evt-F"))
    vlm = ScriptedVLM(risk=RiskLevel.HIGH, activity=ActivityType.SUSPICIOUS_BEHAVIOR)
    runner = pipeline(tmp_path, store, live, policy, [phone], vlm)
    assert await runner.submit(event_clip(tmp_path, "clip-F1", "evt-F"))  # type: ignore[arg-type]
    await runner.wait_idle()

    # When a second clip of the event (a continuation) turns out low risk
    vlm.analysis = replace(vlm.analysis, risk_level=RiskLevel.LOW)
    assert await runner.submit(event_clip(tmp_path, "clip-F2", "evt-F"))  # type: ignore[arg-type]
    await runner.wait_idle()

    # Then the high-risk notification stays: live alert + the first clip's, nothing more
    assert [a.clip_id for a in phone.sent] == ["evt-F", "clip-F1"]
    await runner.stop()


async def test_a_clip_without_a_live_alert_is_an_ordinary_alert(
    tmp_path: Path, store: ClipStore
) -> None:
    # Given live alerts that saw nothing, and a clip without a source event
    phone = LiveNotifier("phone")
    policy = DefaultAlertPolicy(AlertPolicySettings())
    live = LiveAlerts(policy, [phone], lambda d, dec: None)
    runner = pipeline(tmp_path, store, live, policy, [phone], vlm=None)

    # When the clip is processed (the filter saw a person, no vision model)
    assert await runner.submit(event_clip(tmp_path, "clip-G", None))  # type: ignore[arg-type]
    await runner.wait_idle()

    # Then one ordinary alert, tagged by the clip
    (alert,) = phone.sent
    assert isinstance(alert, Alert)
    assert alert.tag == "homesec_clip-G" and not alert.follow_up
    await runner.stop()
