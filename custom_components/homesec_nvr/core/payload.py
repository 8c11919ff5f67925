"""Stable payloads of HomeSec's bus events, event entities and notification messages.

The keys documented in the README are a contract: automations depend on them. Add keys,
never rename or remove them.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
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


def alert_payload(
    alert: Alert, links: MediaLinks, words: AlertWords | None = None
) -> dict[str, Any]:
    """An alert as JSON-ready data (what the MQTT alert topic carries); the title and the
    message in `words`' language (English by default)."""
    words = words or ENGLISH
    analysis = alert.analysis
    return {
        "clip_id": alert.clip_id,
        "camera": alert.camera_name,
        "camera_id": alert.camera_id,
        # The incident's cameras in the order they joined (just the camera outside one).
        "cameras": list(alert.cameras or (alert.camera_name,)),
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
        "title": alert_title(alert, words),
        "message": alert_message(alert, words),
        "media_url": links.media_url,
        "snapshot_url": links.snapshot_url,
        "media_content_id": links.media_content_id,
    }


@dataclass(frozen=True, slots=True)
class AlertWords:
    """The words of notifications, MQTT alert titles and messages, and emails.

    English here (today's texts); the Home Assistant glue reads them from the integration's
    translations in Home Assistant's language (`common.alert_*`, `common.email_*`). Templates
    name their placeholders ({camera}, {time}, {activity}, {risk}, {risk_upper}, ...); a
    template a translation breaks falls back to the English one.
    """

    title: str = "HomeSec: {camera}"
    # An incident's cameras in a title or message: each camera after the first is added so.
    camera_list: str = "{cameras}, {camera}"
    title_risk: str = "{risk_upper} RISK at {camera}"
    message: str = "{camera} at {time}: {activity}."
    message_analyzed: str = "{camera} at {time}: {activity} ({risk} risk). {summary}"
    message_urgent: str = (
        "{risk_upper} RISK. {camera} at {time}: {activity} ({risk} risk). {summary}"
    )
    activity_detected: str = "{objects} detected"
    activity_new_clip: str = "new clip"
    open_clip: str = "Open clip"
    snooze: str = "Snooze 1 h"
    mark_reviewed: str = "Mark reviewed"
    snapshot: str = "snapshot"
    email_camera: str = "Camera"
    email_time: str = "Time"
    email_risk_level: str = "Risk level"
    email_not_analysed: str = "not analysed"
    email_activity: str = "Activity"
    email_detected_objects: str = "Detected objects"
    email_no_objects: str = "none"
    email_open_clip: str = "Open the clip: {url}"
    email_no_clip_link: str = "No link to the clip."
    email_clip_link: str = "Open the clip"
    email_snapshot_alt: str = "Snapshot of {camera}"
    # Activity types and risk levels as a person reads them (none: the value's own words).
    activities: Mapping[str, str] = field(default_factory=dict)
    risks: Mapping[str, str] = field(default_factory=dict)
    # The reader's clock: the {time} of a message is in this zone (None: the machine's own;
    # the Home Assistant glue gives Home Assistant's configured time zone).
    time_zone: tzinfo | None = None

    def fill(self, name: str, **values: str) -> str:
        """The template `name` with its placeholders filled (English when it is broken)."""
        template = str(getattr(self, name))
        try:
            if {f for _, f, _, _ in string.Formatter().parse(template) if f} <= set(values):
                return template.format(**values)
        except (ValueError, IndexError, KeyError):
            pass
        return str(getattr(ENGLISH, name)).format(**values)

    def activity(self, value: str) -> str:
        """An activity type ("person_at_door" -> "person at door" in English)."""
        return self.activities.get(value) or value.replace("_", " ")

    def risk(self, risk: RiskLevel) -> str:
        """A risk level's word ("high" in English)."""
        return self.risks.get(risk.value) or risk.value

    def where(self, alert: Alert) -> str:
        """Where it happened: the camera, or an incident's cameras ("Driveway, Front door")."""
        return list_cameras(
            alert.cameras or (alert.camera_name,),
            lambda listed, name: self.fill("camera_list", cameras=listed, camera=name),
        )


ENGLISH = AlertWords()


def list_cameras(names: Iterable[str], add: Callable[[str, str], str]) -> str:
    """Camera names as one text: `add(listed, name)` adds each name after the first to those
    before it (a translation's list template: "Driveway, Front door, Patio")."""
    listed = ""
    for name in names:
        listed = add(listed, name) if listed else name
    return listed


def describe_activity(
    analysis: AnalysisResult | None, detected: tuple[str, ...], words: AlertWords = ENGLISH
) -> str:
    """A short human phrase for what happened."""
    if analysis is not None:
        return words.activity(analysis.activity_type.value)
    if detected:
        return words.fill("activity_detected", objects=", ".join(detected))
    return words.activity_new_clip


def alert_title(alert: Alert, words: AlertWords = ENGLISH) -> str:
    """Notification title; a high or critical risk says so first."""
    risk = alert.risk_level
    if risk is not None and risk >= RiskLevel.HIGH:
        word = words.risk(risk)
        return words.fill(
            "title_risk", risk=word, risk_upper=word.upper(), camera=words.where(alert)
        )
    return words.fill("title", camera=words.where(alert))


def alert_message(alert: Alert, words: AlertWords = ENGLISH) -> str:
    """Notification body: camera, activity, risk and summary."""
    values = {
        "camera": words.where(alert),
        "time": alert.start_ts.astimezone(words.time_zone).strftime("%H:%M:%S"),
        "activity": describe_activity(alert.analysis, alert.detected_classes, words),
    }
    if alert.analysis is None:
        return words.fill("message", **values)
    risk = alert.analysis.risk_level
    word = words.risk(risk)
    template = "message_urgent" if risk >= RiskLevel.HIGH else "message_analyzed"
    return words.fill(
        template, **values, risk=word, risk_upper=word.upper(), summary=alert.analysis.summary
    ).strip()
