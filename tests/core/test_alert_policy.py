"""The default alert policy table, per-camera overrides, and the noop policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.homesec_nvr.core.alert_policy import (
    AlertPolicySettings,
    DefaultAlertPolicy,
    NoopAlertPolicy,
    parse_activity_types,
)
from custom_components.homesec_nvr.core.models import (
    ActivityType,
    AnalysisResult,
    FilterResult,
    RiskLevel,
)


def _filter(*classes: str, passthrough: bool = False) -> FilterResult:
    return FilterResult(
        detected_classes=classes,
        best_confidence=dict.fromkeys(classes, 0.9),
        detections=(),
        frames_sampled=3,
        model="test",
        duration_ms=5,
        passthrough=passthrough,
    )


def _analysis(risk: RiskLevel, activity: ActivityType) -> AnalysisResult:
    return AnalysisResult(risk_level=risk, activity_type=activity, summary="s")


DEFAULTS = AlertPolicySettings(
    min_risk_level=RiskLevel.HIGH,
    notify_on_activity_types=frozenset({ActivityType.DELIVERY}),
    trigger_classes=frozenset({"person", "car"}),
)


@pytest.mark.parametrize(
    ("settings", "filter_result", "analysis", "notify", "reason_part"),
    [
        # notify_on_motion wins over everything
        (
            AlertPolicySettings(notify_on_motion=True),
            _filter(),
            _analysis(RiskLevel.LOW, ActivityType.NO_ACTIVITY),
            True,
            "notify_on_motion",
        ),
        # no analysis: the filter's trigger classes decide
        (DEFAULTS, _filter("person"), None, True, "trigger class(es): person"),
        (DEFAULTS, _filter("dog"), None, False, "no trigger class"),
        (DEFAULTS, None, None, False, "no trigger class"),
        # no filter and no model: no hidden "every clip" rule, only notify_on_motion alerts
        (DEFAULTS, _filter(passthrough=True), None, False, "only 'Alert on every clip'"),
        # risk threshold
        (
            DEFAULTS,
            _filter("person"),
            _analysis(RiskLevel.HIGH, ActivityType.LOITERING),
            True,
            ">= minimum high",
        ),
        (
            DEFAULTS,
            _filter("person"),
            _analysis(RiskLevel.CRITICAL, ActivityType.UNKNOWN),
            True,
            "critical >= minimum",
        ),
        (
            DEFAULTS,
            _filter("person"),
            _analysis(RiskLevel.MEDIUM, ActivityType.LOITERING),
            False,
            "< minimum high",
        ),
        # activity list
        (
            DEFAULTS,
            _filter("person"),
            _analysis(RiskLevel.LOW, ActivityType.DELIVERY),
            True,
            "delivery is in",
        ),
        (
            DEFAULTS,
            _filter("person"),
            _analysis(RiskLevel.LOW, ActivityType.PASSERBY),
            False,
            "not listed",
        ),
    ],
)
def test_default_policy_table(
    settings: AlertPolicySettings,
    filter_result: FilterResult | None,
    analysis: AnalysisResult | None,
    notify: bool,
    reason_part: str,
) -> None:
    # Given the default policy with these settings
    policy = DefaultAlertPolicy(settings)

    # When it decides on a clip
    decision = policy.decide("cam", filter_result, analysis)

    # Then the decision and its reason are as documented
    assert decision.notify is notify
    assert reason_part in decision.reason


def test_per_camera_override_replaces_fields() -> None:
    # Given hub defaults (min high) and a camera overriding only the minimum risk
    camera = AlertPolicySettings.from_config({"min_risk_level": "low"}, DEFAULTS)
    policy = DefaultAlertPolicy(DEFAULTS, {"porch": camera})
    analysis = _analysis(RiskLevel.LOW, ActivityType.PASSERBY)

    # When the same analysis is decided for both cameras
    porch = policy.decide("porch", _filter("person"), analysis)
    garden = policy.decide("garden", _filter("person"), analysis)

    # Then only the overriding camera alerts, and the untouched fields are inherited
    assert porch.notify is True
    assert garden.notify is False
    assert camera.notify_on_activity_types == DEFAULTS.notify_on_activity_types
    assert camera.trigger_classes == DEFAULTS.trigger_classes


def test_noop_policy_never_alerts() -> None:
    # Given alerting disabled
    policy = NoopAlertPolicy()

    # When a critical clip is decided
    decision = policy.decide(
        "cam", _filter("person"), _analysis(RiskLevel.CRITICAL, ActivityType.DANGEROUS_ACTIVITY)
    )

    # Then nobody is notified, and the reason says why
    assert decision.notify is False
    assert decision.reason == "alerting is disabled"


def test_activity_types_are_validated_against_the_enum() -> None:
    # Given the seed's activity names (and one case variant)
    names = ["person_at_door", "Delivery", "suspicious_behavior", "unknown"]

    # When they are parsed
    parsed = parse_activity_types(names)

    # Then every one matches what the VLM returns, and an unknown name is refused
    assert parsed == {
        ActivityType.PERSON_AT_DOOR,
        ActivityType.DELIVERY,
        ActivityType.SUSPICIOUS_BEHAVIOR,
        ActivityType.UNKNOWN,
    }
    with pytest.raises(ValueError, match="unknown activity type: 'burglary'"):
        parse_activity_types(["burglary"])


def test_risk_levels_are_ordered() -> None:
    # Given the four risk levels
    levels = [RiskLevel.CRITICAL, RiskLevel.LOW, RiskLevel.HIGH, RiskLevel.MEDIUM]

    # When they are sorted
    ordered = sorted(levels)

    # Then the order is by severity, not alphabetical
    assert ordered == [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]
    assert RiskLevel.HIGH > RiskLevel.MEDIUM
    assert not RiskLevel.LOW >= RiskLevel.MEDIUM


def _at(seconds: float) -> datetime:
    return datetime(2026, 12, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def test_a_cooldown_keeps_one_alert_per_camera_per_burst_unless_the_risk_rises() -> None:
    # Given a 60 s cooldown
    policy = DefaultAlertPolicy(AlertPolicySettings(min_risk_level=RiskLevel.LOW, cooldown_s=60))
    medium = _analysis(RiskLevel.MEDIUM, ActivityType.PASSERBY)
    high = _analysis(RiskLevel.HIGH, ActivityType.LOITERING)

    # When clips of one camera come 0, 20, 40, 70 s apart, then a riskier one, then another
    # camera's clip in the same minute, and one far later
    decisions = [
        policy.decide("porch", None, medium, at=_at(0)),
        policy.decide("porch", None, medium, at=_at(20)),
        policy.decide("porch", None, high, at=_at(40)),
        policy.decide("porch", None, high, at=_at(50)),
        policy.decide("garden", None, medium, at=_at(45)),
        policy.decide("porch", None, medium, at=_at(200)),
    ]

    # Then the first alerts, the next within the cooldown does not (and says why), a higher
    # risk breaks through once, other cameras have their own cooldown, and it expires
    assert [d.notify for d in decisions] == [True, False, True, False, True, True]
    assert decisions[1].reason.startswith("cooldown: this camera alerted for a clip 20 s apart")
    assert "risk level medium >= minimum low" in decisions[1].reason


def test_without_a_cooldown_or_a_time_every_alerting_clip_alerts() -> None:
    # Given the default settings (no cooldown), and a policy with a cooldown asked without time
    plain = DefaultAlertPolicy(AlertPolicySettings(min_risk_level=RiskLevel.LOW))
    timed = DefaultAlertPolicy(AlertPolicySettings(min_risk_level=RiskLevel.LOW, cooldown_s=60))
    medium = _analysis(RiskLevel.MEDIUM, ActivityType.PASSERBY)

    # When clips come one second apart
    # Then each alerts
    assert all(plain.decide("porch", None, medium, at=_at(t)).notify for t in range(5))
    assert all(timed.decide("porch", None, medium).notify for _ in range(5))


def test_the_cooldown_is_read_from_config_and_never_negative() -> None:
    # Given config values as the options store them
    # When they are parsed
    # Then the cooldown follows them, floored at 0
    assert AlertPolicySettings.from_config({"alert_cooldown_seconds": 90.0}).cooldown_s == 90.0
    assert AlertPolicySettings.from_config({"alert_cooldown_seconds": -5}).cooldown_s == 0.0
    assert AlertPolicySettings.from_config({}).cooldown_s == 0.0


def test_a_snooze_holds_alerts_back_until_it_ends_then_clears_itself() -> None:
    # Given a policy that alerts on every clip, one camera snoozed until the past and one until
    # the future
    policy = DefaultAlertPolicy(AlertPolicySettings(notify_on_motion=True))
    now = datetime.now(UTC)
    policy.snooze("porch", now + timedelta(hours=1))
    policy.snooze("garden", now - timedelta(seconds=1))

    # When clips of both are decided, and the porch's snooze is ended
    porch = policy.decide("porch", None, None)
    garden = policy.decide("garden", None, None)
    policy.snooze("porch", None)

    # Then the snoozed camera is held back (saying so), the expired snooze is gone, and after
    # ending the snooze the porch alerts again
    assert porch.notify is False
    assert porch.reason.startswith("snoozed until ")
    assert garden.notify is True
    assert "garden" not in policy.snoozed_until
    assert policy.decide("porch", None, None).notify is True
