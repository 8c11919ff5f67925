"""Stable payloads of HomeSec's bus events, event entities and notification messages.

The keys documented in the README are a contract: automations depend on them. Add keys,
never rename or remove them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .grouping import INCIDENT_CAMERA_IDS, INCIDENT_CAMERAS
from .models import (
    EVENT_KEY,
    Alert,
    AlertDecision,
    AnalysisResult,
    ClipState,
    LiveDetection,
    RiskLevel,
)


@dataclass(frozen=True, slots=True)
class MediaLinks:
    """Where Home Assistant serves a clip and its snapshot (None when it cannot)."""

    media_url: str | None = None
    snapshot_url: str | None = None
    media_content_id: str | None = None


def clip_payload(state: ClipState, links: MediaLinks) -> dict[str, Any]:
    """The payload of `homesec_clip_processed`, `homesec_alert` and the event entities."""
    analysis = state.analysis
    detected = list(state.filter_result.detected_classes) if state.filter_result else []
    decision = state.alert_decision
    return {
        "clip_id": state.clip_id,
        "camera": state.camera_name,
        "camera_id": state.camera_id,
        "source": state.source_type,
        "start_time": state.start_ts.isoformat(),
        "end_time": state.end_ts.isoformat(),
        "status": state.status.value,
        "risk_level": analysis.risk_level.value if analysis else None,
        "activity_type": analysis.activity_type.value if analysis else None,
        "summary": analysis.summary if analysis else None,
        "observations": list(analysis.observations) if analysis else [],
        "requires_review": analysis.requires_review if analysis else False,
        "detected_classes": detected,
        "analysis_skipped_reason": state.analysis_skipped_reason,
        "alert": decision.notify if decision else False,
        "reason": decision.reason if decision else None,
        "error": state.error,
        # A person's verdict: reviewed, false_alarm or None (not reviewed).
        "review": state.review.value if state.review else None,
        "media_url": links.media_url,
        "snapshot_url": links.snapshot_url,
        "media_content_id": links.media_content_id,
        # Source details, e.g. Frigate's event id, label, sub-label, scores, zones and box.
        "metadata": dict(state.metadata),
        # The source event the clip belongs to (RTSP motion event, Frigate event), or None:
        # its live alert and clips share one notification, tagged homesec_<event_key>.
        "event_key": state.metadata.get(EVENT_KEY),
        # The incident the clip is part of (the event key; the clip's own id when it starts
        # one) and the cameras of the incident so far (a camera group's clips: several).
        "incident_id": _incident_id(state),
        "cameras": _names(state.metadata.get(INCIDENT_CAMERAS), state.camera_name),
        "camera_ids": _names(state.metadata.get(INCIDENT_CAMERA_IDS), state.camera_id),
    }


def _incident_id(state: ClipState) -> str:
    key = state.metadata.get(EVENT_KEY)
    return key if isinstance(key, str) else state.clip_id


def _names(stored: object, own: str) -> list[str]:
    if isinstance(stored, list) and stored and all(isinstance(n, str) for n in stored):
        return [str(n) for n in stored]
    return [own]


def live_payload(
    detection: LiveDetection, decision: AlertDecision, links: MediaLinks
) -> dict[str, Any]:
    """The payload of `homesec_nvr_object_detected` and the event entity's `object_detected`:
    a trigger object seen live, before the event's clip exists."""
    return {
        **detection.to_dict(),
        "alert": decision.notify,
        "reason": decision.reason,
        "snapshot_url": links.snapshot_url,
    }


def alert_payload(alert: Alert, links: MediaLinks) -> dict[str, Any]:
    """An alert as JSON-ready data (what the MQTT alert topic carries)."""
    analysis = alert.analysis
    return {
        "clip_id": alert.clip_id,
        "camera": alert.camera_name,
        "camera_id": alert.camera_id,
        "start_time": alert.start_ts.isoformat(),
        "risk_level": analysis.risk_level.value if analysis else None,
        "activity_type": analysis.activity_type.value if analysis else None,
        "summary": analysis.summary if analysis else None,
        "observations": list(analysis.observations) if analysis else [],
        "requires_review": analysis.requires_review if analysis else False,
        "detected_classes": list(alert.detected_classes),
        # "detected": a live alert (no clip yet); "analyzed": the clip's alert. Alerts of one
        # event share `event_key` (null for a clip without a source event).
        "stage": alert.stage.value,
        "event_key": alert.event_key,
        "alert": True,
        "reason": alert.reason,
        "title": alert_title(alert),
        "message": alert_message(alert),
        "media_url": links.media_url,
        "snapshot_url": links.snapshot_url,
        "media_content_id": links.media_content_id,
    }


def describe_activity(analysis: AnalysisResult | None, detected: tuple[str, ...]) -> str:
    """A short human phrase for what happened."""
    if analysis is not None:
        return analysis.activity_type.value.replace("_", " ")
    if detected:
        return ", ".join(detected) + " detected"
    return "new clip"


def alert_title(alert: Alert) -> str:
    """Notification title; a high or critical risk says so first."""
    risk = alert.risk_level
    if risk is not None and risk >= RiskLevel.HIGH:
        return f"{risk.value.upper()} RISK at {alert.camera_name}"
    return f"HomeSec: {alert.camera_name}"


def alert_message(alert: Alert) -> str:
    """Notification body: camera, activity, risk and summary."""
    activity = describe_activity(alert.analysis, alert.detected_classes)
    time_text = alert.start_ts.astimezone().strftime("%H:%M:%S")
    if alert.analysis is None:
        return f"{alert.camera_name} at {time_text}: {activity}."
    risk = alert.analysis.risk_level
    prefix = f"{risk.value.upper()} RISK. " if risk >= RiskLevel.HIGH else ""
    return (
        f"{prefix}{alert.camera_name} at {time_text}: {activity} ({risk.value} risk). "
        f"{alert.analysis.summary}"
    ).strip()
