"""Alert policies: the default threshold policy and the no-op policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .interfaces import AlertPolicy
from .models import ActivityType, AlertDecision, AnalysisResult, FilterResult, RiskLevel


@dataclass(frozen=True, slots=True)
class AlertPolicySettings:
    """Thresholds of the default policy (hub defaults or a camera's effective values)."""

    min_risk_level: RiskLevel = RiskLevel.MEDIUM
    notify_on_activity_types: frozenset[ActivityType] = frozenset()
    notify_on_motion: bool = False
    trigger_classes: frozenset[str] = frozenset({"person"})
    # Seconds after a camera's alert during which its further clips do not alert again
    # (unless their risk is higher); 0: every alerting clip alerts.
    cooldown_s: float = 0.0
    # Alert the moment a live source (an RTSP camera's frames, Frigate's event messages) sees a
    # trigger class, before the clip exists; the clip's analysis then updates that alert.
    live_alerts: bool = True

    @classmethod
    def from_config(
        cls, data: Mapping[str, Any], base: AlertPolicySettings | None = None
    ) -> AlertPolicySettings:
        """Build settings from config values; keys that are absent keep `base`'s value.

        Raises ValueError for a risk level or activity type outside the enums.
        """
        settings = base or cls()
        changes: dict[str, Any] = {}
        if (risk := data.get("min_risk_level")) not in (None, ""):
            changes["min_risk_level"] = RiskLevel(str(risk).lower())
        if activities := data.get("notify_on_activity_types"):
            changes["notify_on_activity_types"] = parse_activity_types(activities)
        if (motion := data.get("notify_on_motion")) is not None:
            changes["notify_on_motion"] = bool(motion)
        if classes := data.get("trigger_classes"):
            changes["trigger_classes"] = frozenset(str(c) for c in classes)
        if (cooldown := data.get("alert_cooldown_seconds")) is not None:
            changes["cooldown_s"] = max(0.0, float(cooldown))
        if (live := data.get("live_alerts")) is not None:
            changes["live_alerts"] = bool(live)
        return replace(settings, **changes)


def parse_activity_types(values: Iterable[str]) -> frozenset[ActivityType]:
    """Validate configured activity types against the enum (ValueError names the bad one)."""
    parsed: set[ActivityType] = set()
    for value in values:
        try:
            parsed.add(ActivityType(str(value).strip().lower()))
        except ValueError:
            raise ValueError(f"unknown activity type: {value!r}") from None
    return frozenset(parsed)


class DefaultAlertPolicy(AlertPolicy):
    """The documented default policy, with per-camera overrides.

    In this order: notify_on_motion -> notify every clip; no analysis -> notify if the filter
    found a trigger class (a camera without filter and model alerts only with
    notify_on_motion); risk >= min_risk_level -> notify; activity type listed -> notify;
    else no alert. A snooze holds every alert back; the cooldown holds back a camera's alerts
    that follow its last one closely unless their risk is higher. Live detections alert when
    `live_alerts` is on and the object is a trigger class (snooze and cooldown apply).
    """

    def __init__(
        self,
        defaults: AlertPolicySettings,
        per_camera: Mapping[str, AlertPolicySettings] | None = None,
    ) -> None:
        self._defaults = defaults
        # Kept by reference: the owner may add cameras that appear later.
        self._per_camera: Mapping[str, AlertPolicySettings] = (
            per_camera if per_camera is not None else {}
        )
        # Per camera: the start time and risk rank of its last alerting clip (cooldown).
        self._last_alert: dict[str, tuple[datetime, int]] = {}
        # Per camera: alerts are held back until then (a snooze from a notification).
        self.snoozed_until: dict[str, datetime] = {}

    def snooze(self, camera_id: str, until: datetime | None) -> None:
        """Hold back a camera's alerts until `until` (None ends the snooze)."""
        if until is None:
            self.snoozed_until.pop(camera_id, None)
        else:
            self.snoozed_until[camera_id] = until

    def settings_for(self, camera_id: str) -> AlertPolicySettings:
        """The effective settings of a camera."""
        return self._per_camera.get(camera_id, self._defaults)

    def decide(
        self,
        camera_id: str,
        filter_result: FilterResult | None,
        analysis: AnalysisResult | None,
        at: datetime | None = None,
    ) -> AlertDecision:
        decision = self._decide(self.settings_for(camera_id), filter_result, analysis)
        rank = analysis.risk_level.rank if analysis else -1
        return self._held_back(camera_id, decision, rank, at)

    def decide_live(self, camera_id: str, label: str, at: datetime) -> AlertDecision:
        settings = self.settings_for(camera_id)
        if not settings.live_alerts:
            return AlertDecision(False, "live alerts are off: the clip's analysis decides")
        if label not in settings.trigger_classes:
            return AlertDecision(False, f"live detection of {label}: not a trigger class")
        decision = AlertDecision(True, f"live detection of trigger class {label}")
        return self._held_back(camera_id, decision, -1, at)

    def _held_back(
        self, camera_id: str, decision: AlertDecision, rank: int, at: datetime | None
    ) -> AlertDecision:
        """The decision after a snooze and the cooldown have had their say."""
        until = self.snoozed_until.get(camera_id)
        if decision.notify and until is not None:
            if datetime.now(UTC) < until:
                return AlertDecision(
                    False,
                    f"snoozed until {until.isoformat(timespec='minutes')} ({decision.reason})",
                )
            del self.snoozed_until[camera_id]
        cooldown = self.settings_for(camera_id).cooldown_s
        if not decision.notify or cooldown <= 0 or at is None:
            return decision
        last = self._last_alert.get(camera_id)
        if last is not None:
            gap = abs((at - last[0]).total_seconds())
            if gap < cooldown and rank <= last[1]:
                return AlertDecision(
                    False,
                    f"cooldown: this camera alerted for a clip {gap:.0f} s apart "
                    f"(cooldown {cooldown:.0f} s; {decision.reason})",
                )
        self._last_alert[camera_id] = (at, rank)
        return decision

    def _decide(
        self,
        s: AlertPolicySettings,
        filter_result: FilterResult | None,
        analysis: AnalysisResult | None,
    ) -> AlertDecision:
        if s.notify_on_motion:
            return AlertDecision(True, "notify_on_motion is on: every clip alerts")
        if analysis is None:
            detected = set(filter_result.detected_classes) if filter_result else set()
            hits = sorted(detected & s.trigger_classes)
            if hits:
                return AlertDecision(
                    True, f"no analysis; filter detected trigger class(es): {', '.join(hits)}"
                )
            if filter_result is not None and filter_result.passthrough:
                return AlertDecision(
                    False,
                    "no analysis and no object filter: only 'Alert on every clip' alerts",
                )
            return AlertDecision(False, "no analysis and no trigger class detected")
        if analysis.risk_level >= s.min_risk_level:
            return AlertDecision(
                True,
                f"risk level {analysis.risk_level} >= minimum {s.min_risk_level}",
            )
        if analysis.activity_type in s.notify_on_activity_types:
            return AlertDecision(
                True, f"activity type {analysis.activity_type} is in notify_on_activity_types"
            )
        return AlertDecision(
            False,
            f"risk level {analysis.risk_level} < minimum {s.min_risk_level} and activity "
            f"type {analysis.activity_type} not listed",
        )


class NoopAlertPolicy(AlertPolicy):
    """Alerting disabled: never notifies."""

    def decide(
        self,
        camera_id: str,
        filter_result: FilterResult | None,
        analysis: AnalysisResult | None,
        at: datetime | None = None,
    ) -> AlertDecision:
        return AlertDecision(False, "alerting is disabled")
