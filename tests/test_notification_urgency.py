"""How urgently a phone shows an alert: high risk is time-sensitive, critical breaks through
silent mode, lower risks are ordinary notifications (HA companion app data keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, ServiceCall

from custom_components.homesec_nvr.core.models import (
    ActivityType,
    Alert,
    AnalysisResult,
    RiskLevel,
)
from custom_components.homesec_nvr.core.payload import MediaLinks
from custom_components.homesec_nvr.ha_notifier import NotifyServiceNotifier


def _alert(risk: RiskLevel | None) -> Alert:
    analysis = (
        AnalysisResult(risk_level=risk, activity_type=ActivityType.LOITERING, summary="A person.")
        if risk is not None
        else None
    )
    return Alert(
        clip_id="clip-1",
        camera_id="cam",
        camera_name="Porch",
        start_ts=datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
        reason="test",
        detected_classes=("person",),
        analysis=analysis,
        clip_path=None,
        snapshot_path=None,
        clip_uri=None,
        snapshot_uri=None,
    )


@pytest.mark.parametrize(
    ("risk", "expected"),
    [
        (None, {}),
        (RiskLevel.LOW, {}),
        (RiskLevel.MEDIUM, {}),
        (
            RiskLevel.HIGH,
            {"push": {"interruption-level": "time-sensitive"}, "priority": "high", "ttl": 0},
        ),
        (
            RiskLevel.CRITICAL,
            {
                "push": {
                    "interruption-level": "critical",
                    "sound": {"name": "default", "critical": 1, "volume": 1.0},
                },
                "priority": "high",
                "ttl": 0,
                "channel": "alarm_stream",
            },
        ),
    ],
)
async def test_the_push_urgency_follows_the_risk(
    hass: HomeAssistant, risk: RiskLevel | None, expected: dict[str, Any]
) -> None:
    # Given a phone's notify service
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    notifier = NotifyServiceNotifier(hass, "notify.phone", lambda _a: MediaLinks())

    # When an alert of that risk is sent
    await notifier.send(_alert(risk))

    # Then the app data carries exactly the urgency of the risk, beside the per-clip tag and
    # the snooze and review buttons
    data = dict(calls[0].data["data"])
    assert data.pop("tag") == "homesec_clip-1"
    assert data.pop("group") == "homesec"
    assert data.pop("actions") == [
        {"action": "HOMESEC_SNOOZE_cam", "title": "Snooze 1 h"},
        {"action": "HOMESEC_REVIEW_clip-1", "title": "Mark reviewed"},
    ]
    assert data == expected
    if risk is not None and risk >= RiskLevel.HIGH:
        assert calls[0].data["title"] == f"{risk.value.upper()} RISK at Porch"
